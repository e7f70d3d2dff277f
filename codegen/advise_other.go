//go:build !linux

package codegen

func adviseHugePages([]byte) {}
