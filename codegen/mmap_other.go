//go:build !(linux || darwin || freebsd)

package codegen

func mapFile(path string) ([]byte, func() error, error) { return readFile(path) }
