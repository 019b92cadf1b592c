package sigma

import (
	"regexp"
	"sync"
)

// RegexCache compiles each regular expression once and shares the result
// (a *regexp.Regexp is safe for concurrent use). The zero value is ready to
// use; a RegexCache is safe for concurrent use.
type RegexCache struct {
	mu sync.Mutex
	m  map[string]regexEntry
}

type regexEntry struct {
	re  *regexp.Regexp
	err error
}

// NewRegexCache returns an empty cache.
func NewRegexCache() *RegexCache { return &RegexCache{} }

// Compile returns the compiled expression, compiling it on first use.
// Failures are cached too.
func (c *RegexCache) Compile(expr string) (*regexp.Regexp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[expr]; ok {
		return e.re, e.err
	}
	if c.m == nil {
		c.m = make(map[string]regexEntry)
	}
	re, err := regexp.Compile(expr)
	c.m[expr] = regexEntry{re, err}
	return re, err
}

// Len returns how many distinct expressions the cache holds.
func (c *RegexCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
