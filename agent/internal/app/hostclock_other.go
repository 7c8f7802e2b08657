//go:build !linux

package app

// readHostClock cannot ask the kernel outside Linux.
func readHostClock() hostClock { return hostClock{Source: clockSourceUnavailable} }
