package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/cloudmgr/cloud/api"
	"github.com/spf13/cobra"
)

// errReported means the failures were already printed one by one (apply
// and delete of several objects); only the exit code is left to set.
var errReported = errors.New("some operations failed")

// usageError is a mistake in the command line itself: a bad flag or a
// wrong number of arguments. The usage is printed after it.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf builds a usageError.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// printError writes err the way kubectl does: API errors as
// "Error from server (Reason): message", others as "error: message".
func printError(w io.Writer, err error) {
	if errors.Is(err, errReported) {
		return
	}
	fmt.Fprintln(w, errorLine(err))
}

// errorLine is the one-line rendering of err used by printError and by
// commands that report several failures.
func errorLine(err error) string {
	if st, ok := err.(*api.Status); ok {
		return serverErrorPrefix(st) + ": " + st.Message
	}
	return "error: " + err.Error()
}

// serverErrorPrefix is "Error from server (Reason)".
func serverErrorPrefix(st *api.Status) string {
	if st.Reason == "" {
		return "Error from server"
	}
	return fmt.Sprintf("Error from server (%s)", st.Reason)
}

// exactArgs, minArgs and noArgs are cobra's argument checks, returning
// usage errors so the usage is printed after them.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%q accepts %d arg(s), received %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%q requires at least %d arg(s), received %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%q accepts no arguments, received %q", cmd.CommandPath(), args)
	}
	return nil
}
