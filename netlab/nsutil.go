package netlab

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNS runs fn on a locked OS thread switched into ns, then switches the
// thread back. fn runs on its own goroutine so the caller's thread is never
// touched.
func inNS(ns netns.NsHandle, fn func() error) error {
	_, err := onThreadIn(func() (netns.NsHandle, error) { return ns, netns.Set(ns) },
		func(netns.NsHandle) error { return fn() })
	return err
}

// newNamedNS creates a named network namespace (a bind mount under
// /run/netns) without moving the caller's thread into it, and returns a
// handle to it.
func newNamedNS(name string) (netns.NsHandle, error) { return newNamedNSDo(name, nil) }

// newNamedNSDo creates a named network namespace and, if fn is not nil,
// runs fn on a locked thread inside it before switching the thread back.
// The handle is returned (open) even when fn fails, so the caller can
// record and later remove the namespace.
func newNamedNSDo(name string, fn func(netns.NsHandle) error) (netns.NsHandle, error) {
	return onThreadIn(func() (netns.NsHandle, error) { return netns.NewNamed(name) }, fn)
}

// onThreadIn locks a fresh goroutine's OS thread, moves it into a
// namespace with enter, runs fn (if enter worked and fn is not nil) and
// moves the thread back. If moving back fails the thread stays locked, so
// it dies with its goroutine instead of carrying the namespace elsewhere.
func onThreadIn(enter func() (netns.NsHandle, error), fn func(netns.NsHandle) error) (netns.NsHandle, error) {
	type res struct {
		h   netns.NsHandle
		err error
	}
	rc := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			rc <- res{netns.None(), fmt.Errorf("get current netns: %w", err)}
			return
		}
		defer orig.Close()
		h, err := enter()
		if err == nil && fn != nil {
			err = fn(h)
		}
		if serr := netns.Set(orig); serr != nil {
			rc <- res{h, errors.Join(err, fmt.Errorf("return to original netns: %w", serr))}
			return // stay locked: the thread dies with the goroutine
		}
		runtime.UnlockOSThread()
		rc <- res{h, err}
	}()
	r := <-rc
	return r.h, r.err
}
