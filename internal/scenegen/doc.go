// Package scenegen renders synthetic traffic clips with exactly known
// vehicle speeds, so that the agent's calibrated speed measurement can be
// checked against ground truth that no real footage provides.
//
// A Scene is a flat road seen by a pinhole camera (Camera) with lane
// markings, a stop line, kerbs, sidewalks, building facades and painted
// calibration markers (Road), and a list of cars (Car) moving along lanes at
// known speeds. Cars are billboards cut out of real photos (Library): the
// sprite's bottom edge is where the tyres touch the road. Render writes an
// H.264 MP4 (ffmpeg CLI), truth.json (camera, homography, per-frame car
// positions and image boxes), points.csv (marker pixels ↔ metres, the input
// of `agent calibrate solve`) and frame.jpg (the first frame); scenes with
// traffic rules also get geometry.json and signal.txt (see Rule scenes).
//
// # Rule scenes
//
// The "redlight" and "lane" presets (RedLightScene, LaneScene) add what the
// agent's red-light and lane rules need: a painted stop line (Road.StopLine,
// StopLineDir) with a crosswalk and a signal schedule (Scene.Signal), solid
// lane dividers (Road.SolidDividers), bus lanes (Road.BusLanes), cars that
// brake to a standstill and stay (Car.Stops) and cars that change lanes
// (Car.LaneChange). For such scenes Render also writes geometry.json (the
// zones and lines in ground metres, the --geometry input of `agent
// calibrate solve`: a 60 km/h speed zone "speed", the stop line "stop" at
// the centre of the painted band, a count line "exit" ExitBeyondM beyond
// it, "solid_<i>" solid_lane_line per solid divider and "bus_<i>" bus_lane
// zones) and, with a signal, signal.txt ("<seconds> <phase>" per change);
// the truth gets the signal, the geometry and, per car, the expected
// violations, the stop-line and solid-line crossing times and the time a
// stopping car comes to rest. Crossings are those of the car's ground point
// (the front bumper of a car driving towards the camera).
//
// # Coordinates
//
// Ground: metres on the road plane, x across the road (to the right of a
// camera looking along +y), y along the road, z up. Image: pixels with the
// origin at the top-left corner of the top-left pixel, u to the right, v down;
// pixel (i, j) covers [i, i+1)×[j, j+1) and its centre is (i+0.5, j+0.5)
// (OpenCV's cornerSubPix reports centres at integers: add 0.5).
//
// # Camera model
//
// The camera sits at C = (X, Y, HeightM), yaw ψ (degrees from +y towards +x:
// 0 looks along the road, 90 across it), pitch θ (degrees below the
// horizon) and roll φ. Its axes in world coordinates are
//
//	forward f = (sinψ·cosθ, cosψ·cosθ, −sinθ)
//	right   r₀ = (cosψ, −sinψ, 0),  down d₀ = f × r₀
//	right   r = cosφ·r₀ + sinφ·d₀,  down d = −sinφ·r₀ + cosφ·d₀
//
// and R = [r; d; f] (rows) maps world to camera coordinates: Pc = R(P − C).
// With square pixels, focal length F = (W/2)/tan(HFOV/2) and principal point
// (W/2, H/2), K = [[F,0,W/2],[0,F,H/2],[0,0,1]] and a world point projects to
// (u, v) = (F·Pc.x/Pc.z + W/2, F·Pc.y/Pc.z + H/2) when Pc.z > 0.
//
// For ground points (x, y, 0), P − C = x·e₁ + y·e₂ − C, so
//
//	[u·w, v·w, w]ᵀ = K·[R·e₁ | R·e₂ | −R·C]·[x, y, 1]ᵀ,   w = Pc.z
//
// which is the ground→image homography (Camera.GroundToImage); its inverse
// is the image→ground homography that a calibration recovers
// (Camera.ImageToGround). Both are scaled so that w > 0 on the visible road.
//
// # Timing
//
// Frame n is shown at t(n) = n/FPS + j(n) seconds, where the optional jitter
// j(0) = 0 and j(n) = A·(2·frac(|sin(12.9898·n + s)·43758.5453|) − 1), A =
// Scene.JitterMs/1000 and s derived from the seed. With jitter, the MP4 gets
// exactly those timestamps through ffmpeg's setpts filter (the same formula
// evaluated by ffmpeg, on a 1/90000 s time base), and Render reads them back
// with ffprobe and fails if any differs from t(n) by more than one tick; the
// stream is then variable-frame-rate (r_frame_rate reads 90000/1, so a
// consumer must use PTS, not a nominal rate). Without jitter the MP4 is
// constant-rate and t(n) = n/FPS exactly. Car positions are computed from
// t(n), never from a nominal rate.
//
// # Ground truth
//
// A car's ground point is the centre of the bottom edge of its billboard:
// the point of the road under the middle of the car face seen by the camera
// (the front bumper of a car driving towards the camera, the rear of one
// driving away). The bottom edge of the car's image box lies on that road
// line, so a box-bottom-centre speed estimator measures exactly this point.
// A billboard stands on the road parallel to the image plane (it leans back
// by the camera's pitch): all its points are at the same depth, so the
// sprite is drawn as an upright, undistorted rectangle like the photograph
// it is, and (with zero roll) the box bottom centre is exactly the
// projection of the ground point and the box width is the car width at
// that depth.
//
// # Sprites
//
// Each photo's car box comes from the agent's YOLOX-Nano detector (a stored
// table, photos.csv, or a live CarFinder), else from the plate box (car ≈ 4.5
// plate widths, flagged as BoxFromPlate). Only boxes clear of the photo's
// borders count as whole cars. GrabCut, seeded with a car-shaped prior and
// the plate, cuts the car out; the sprite is then cropped to the
// silhouette, so its bottom row is where the tyres meet the road. Cars
// driving towards the camera get front photos, cars driving away rear ones.
//
// # Limits
//
// Billboards have no depth: the roof and sides a high camera would see are
// missing (a soft shadow stands for the body), and in the side view cars
// show their front or rear. No motion blur, rolling shutter, lens
// distortion or lighting change. Occlusion in the truth is box overlap.
package scenegen
