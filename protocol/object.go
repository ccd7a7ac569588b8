package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Member is one top-level member of a JSON object.
type Member struct {
	// Key is the member's name, unescaped. Names are compared exactly
	// (case-sensitively), as the protocol requires.
	Key []byte
	// Value is the member's raw JSON value.
	Value []byte
	// Text is the member's whole text, `"key":value`, as it appears in the
	// object.
	Text []byte
}

// String returns the member's value if it is a JSON string; ok is false for
// any other JSON value (null included).
func (m Member) String() (s string, ok bool) { return jsonString(m.Value) }

var errNotObject = errors.New("not a JSON object")

// EachMember calls fn for every top-level member of the JSON object obj, in
// order, and stops at the first error fn returns. obj must be one valid JSON
// object (whitespace around it allowed); anything else is an error.
// Duplicate keys are reported each time they occur.
func EachMember(obj []byte, fn func(Member) error) error {
	if !json.Valid(obj) || firstNonSpace(obj) != '{' {
		return errNotObject
	}
	return eachMember(obj, fn)
}

// eachMember is EachMember for input already known to be a valid JSON
// object.
func eachMember(obj []byte, fn func(Member) error) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errNotObject
	}
	i = skipSpace(obj, i+1)
	if obj[i] == '}' {
		return nil
	}
	for {
		start := i
		kend := skipString(obj, i)
		key := obj[i+1 : kend-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(obj[i:kend], &s); err != nil {
				return err
			}
			key = []byte(s)
		}
		i = skipSpace(obj, kend) + 1 // past ':'
		i = skipSpace(obj, i)
		vstart := i
		i = skipValue(obj, i)
		if err := fn(Member{Key: key, Value: obj[vstart:i], Text: obj[start:i]}); err != nil {
			return err
		}
		i = skipSpace(obj, i)
		if obj[i] == '}' {
			return nil
		}
		i = skipSpace(obj, i+1) // past ','
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
			continue
		}
		break
	}
	return i
}

// skipString returns the index just past the JSON string starting at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
		j++
	}
	return j
}

// jsonString decodes a raw JSON string value.
func jsonString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonInt decodes an optional positive integer member (id, re). null counts
// as absent.
func jsonInt(name string, v []byte) (int64, error) {
	if string(v) == "null" {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 1 {
		return 0, badFrame("%s %s is not an integer >= 1", name, v)
	}
	return n, nil
}

// RequestID returns the id of a frame payload that may be malformed, so that
// an Error answering it can carry re; it returns 0 when the payload is not a
// JSON object or has no integer id >= 1.
func RequestID(payload []byte) int64 {
	var id int64
	_ = EachMember(payload, func(m Member) error {
		if string(m.Key) == "id" {
			id, _ = jsonInt("id", m.Value)
		}
		return nil
	})
	return id
}
