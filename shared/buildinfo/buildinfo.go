// Package buildinfo reports the version, commit and toolchain a binary was
// built with. Version and Commit are set by the Makefile through -ldflags.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/vigia-pe/vigia/shared/buildinfo.Version=...
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info describes a build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get returns the build information of the running binary.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if i.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					i.Commit = s.Value
				case "vcs.time":
					if i.Date == "" {
						i.Date = s.Value
					}
				}
			}
		}
	}
	return i
}

// String renders the information on one line, for `version` commands.
func (i Info) String() string {
	s := fmt.Sprintf("%s (%s, %s)", i.Version, i.GoVersion, i.Platform)
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s = fmt.Sprintf("%s commit %s", s, c)
	}
	if i.Date != "" {
		s += " built " + i.Date
	}
	return s
}
