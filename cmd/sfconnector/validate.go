package main

import (
	"io"
)

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	return exitError{code: 2, msg: "validate: not built yet"}
}

func cmdPolicyTest(args []string, stdout, stderr io.Writer) error {
	return exitError{code: 2, msg: "policy test: not built yet"}
}
