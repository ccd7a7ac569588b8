// Package junit writes JUnit XML reports (the testsuites/testsuite/testcase
// dialect CI systems read), for `p2plab run` and `p2plab conform`. It is
// the report format only: what counts as a failure is the caller's.
package junit

import (
	"encoding/xml"
	"fmt"
	"os"
	"time"
)

// Report is a testsuites document.
type Report struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []*Suite `xml:"testsuite"`
	elapsed  time.Duration
}

// Suite is one testsuite.
type Suite struct {
	Name      string `xml:"name,attr"`
	Tests     int    `xml:"tests,attr"`
	Failures  int    `xml:"failures,attr"`
	Errors    int    `xml:"errors,attr"`
	Skipped   int    `xml:"skipped,attr"`
	Time      string `xml:"time,attr"`
	Timestamp string `xml:"timestamp,attr,omitempty"`
	Cases     []Case `xml:"testcase"`
	elapsed   time.Duration
}

// Case is one testcase; at most one of Failure, Error and Skipped is set.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	File      string   `xml:"file,attr,omitempty"`
	Time      string   `xml:"time,attr"`
	Failure   *Message `xml:"failure,omitempty"`
	Error     *Message `xml:"error,omitempty"`
	Skipped   *Message `xml:"skipped,omitempty"`
	// Properties are name/value pairs about the case (the Jenkins and
	// GitLab dialects read a testcase's properties).
	Properties []Property `xml:"properties>property,omitempty"`
	SystemOut  string     `xml:"system-out,omitempty"`
}

// Property is one name/value pair of a properties element.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Message is the body of a failure, error or skipped element.
type Message struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// Suite returns the suite named name, adding it (with timestamp start)
// if there is none yet.
func (r *Report) Suite(name string, start time.Time) *Suite {
	for _, s := range r.Suites {
		if s.Name == name {
			return s
		}
	}
	s := &Suite{Name: name}
	if !start.IsZero() {
		s.Timestamp = start.UTC().Format(time.RFC3339)
	}
	r.Suites = append(r.Suites, s)
	return s
}

// Add appends a case that took d, and counts it in s and r.
func (r *Report) Add(s *Suite, c Case, d time.Duration) {
	c.Time = secs(d)
	s.Cases = append(s.Cases, c)
	s.elapsed += d
	r.elapsed += d
	s.Tests++
	r.Tests++
	switch {
	case c.Failure != nil:
		s.Failures++
		r.Failures++
	case c.Error != nil:
		s.Errors++
		r.Errors++
	case c.Skipped != nil:
		s.Skipped++
		r.Skipped++
	}
}

// Write writes the report to path.
func (r *Report) Write(path string) error {
	r.Time = secs(r.elapsed)
	for _, s := range r.Suites {
		s.Time = secs(s.elapsed)
	}
	b, err := xml.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	if err := os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644); err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
