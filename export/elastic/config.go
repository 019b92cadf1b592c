// Package elastic ships findings to Elasticsearch (or OpenSearch) through
// the _bulk API as ECS documents, keyed by event_id so that retries never
// duplicate a document.
package elastic

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/export"
)

// Config configures the Elastic sink. Secrets print as "<secret>".
type Config struct {
	URL         string        // base URL, e.g. https://es.example:9200 (ELASTIC_URL)
	APIKey      export.Secret // encoded API key (ELASTIC_API_KEY)
	Username    export.Secret // basic auth user (ELASTIC_USERNAME)
	Password    export.Secret // basic auth password (ELASTIC_PASSWORD)
	Index       string        // target index or data stream (ELASTIC_INDEX, "ttpmap-findings")
	MinSeverity string        // findings below it are skipped; "" sends all (ELASTIC_MIN_SEVERITY)
	Timeout     time.Duration // per _bulk request (ELASTIC_TIMEOUT, 30s)
}

// DefaultIndex is the index used when Config.Index is empty.
const DefaultIndex = "ttpmap-findings"

// DefaultTimeout bounds one _bulk request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Default returns the configuration defaults.
func Default() Config {
	return Config{Index: DefaultIndex, Timeout: DefaultTimeout}
}

// ConfigFromEnv returns Default overlaid with the ELASTIC_* variables
// getenv reports (os.Getenv in production). A malformed ELASTIC_TIMEOUT is
// kept as a negative timeout so that Validate reports it.
func ConfigFromEnv(getenv func(string) string) Config {
	c := Default()
	if v := getenv("ELASTIC_URL"); v != "" {
		c.URL = v
	}
	c.APIKey = export.Secret(getenv("ELASTIC_API_KEY"))
	c.Username = export.Secret(getenv("ELASTIC_USERNAME"))
	c.Password = export.Secret(getenv("ELASTIC_PASSWORD"))
	if v := getenv("ELASTIC_INDEX"); v != "" {
		c.Index = v
	}
	c.MinSeverity = getenv("ELASTIC_MIN_SEVERITY")
	if v := getenv("ELASTIC_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			d = -1
		}
		c.Timeout = d
	}
	return c
}

// Enabled reports whether a URL is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate reports every problem of c at once. It never includes a secret.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("elastic url is required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, errors.New("elastic url does not parse")) // err may echo credentials
	} else {
		if u.Scheme != "http" && u.Scheme != "https" {
			errs = append(errs, fmt.Errorf("elastic url scheme %q: want http or https", u.Scheme))
		}
		if u.Host == "" {
			errs = append(errs, errors.New("elastic url has no host"))
		}
		if u.User != nil {
			errs = append(errs, errors.New("elastic url must not carry credentials: use ELASTIC_USERNAME/ELASTIC_PASSWORD"))
		}
		if u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, errors.New("elastic url must not have a query or fragment"))
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		errs = append(errs, errors.New("set either the elastic api key or username/password, not both"))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("elastic username and password must be set together"))
	}
	if err := validIndex(c.Index); err != nil {
		errs = append(errs, err)
	}
	if c.MinSeverity != "" {
		if _, err := export.ParseSeverity(c.MinSeverity); err != nil {
			errs = append(errs, fmt.Errorf("elastic min severity: %w", err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("elastic timeout must be a positive duration"))
	}
	return errors.Join(errs...)
}

// validIndex applies Elasticsearch's index naming rules.
func validIndex(s string) error {
	switch {
	case s == "":
		return errors.New("elastic index is required")
	case len(s) > 255:
		return errors.New("elastic index longer than 255 bytes")
	case s == "." || s == "..":
		return fmt.Errorf("elastic index %q is reserved", s)
	case strings.ContainsAny(s[:1], "-_+"):
		return fmt.Errorf("elastic index %q must not start with -, _ or +", s)
	case strings.ContainsAny(s, `\/*?"<>| ,#:`):
		return fmt.Errorf("elastic index %q contains a forbidden character", s)
	case strings.ToLower(s) != s:
		return fmt.Errorf("elastic index %q must be lower case", s)
	}
	return nil
}
