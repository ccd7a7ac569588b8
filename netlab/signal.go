package netlab

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// CloseOnSignal closes the lab when the process gets SIGINT or SIGTERM
// (Ctrl-C, or `go test` being interrupted), then re-raises the signal so the
// process still ends as it would have. Call the returned stop once the lab
// is closed normally. The watching goroutine ends with stop.
func (l *Lab) CloseOnSignal() (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = l.Close(ctx)
			cancel()
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				_ = p.Signal(sig)
			}
		case <-quit:
			signal.Stop(sigs)
		}
	}()
	return func() {
		select {
		case <-quit:
		default:
			close(quit)
		}
		<-done
	}
}
