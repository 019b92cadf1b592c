// Package servetest holds the integration tests of `ttpmap serve`: they
// build the binary, start it on loopback and drive it over HTTP against
// spec-faithful Elasticsearch and Splunk HEC fakes, a real redis-server,
// SIGKILL and restart. It has no code of its own.
package servetest
