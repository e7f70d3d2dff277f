//go:build !linux

package exec

func osYield() {}
