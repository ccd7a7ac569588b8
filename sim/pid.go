package sim

// Pid is the process id of the running server program as the lab machine
// sees it (0 when it is not running), e.g. to read /proc/<pid>/stat.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !running(s.proc) {
		return 0
	}
	return s.proc.Pid()
}

// Pid is the process id of the running client program as the lab machine
// sees it (0 when it is not running).
func (c *Client) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !running(c.proc) {
		return 0
	}
	return c.proc.Pid()
}
