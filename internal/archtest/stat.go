// Package archtest holds the layering test of the module (see
// archtest_test.go); it has no code of its own.
package archtest
