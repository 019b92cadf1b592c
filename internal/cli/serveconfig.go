package cli

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// serveSettings are the names `ttpmap serve` reads from the environment and
// from its --config file. The file is YAML whose keys map onto these names:
// top-level and nested keys become TTPMAP_<KEY> (tls.cert → TTPMAP_TLS_CERT),
// the elastic and splunk sections become ELASTIC_* and SPLUNK_*.
var serveSettings = []string{
	"TTPMAP_LISTEN", "TTPMAP_DB", "TTPMAP_DB_SYNC", "TTPMAP_QUEUE", "TTPMAP_TLS_CERT", "TTPMAP_TLS_KEY",
	"TTPMAP_API_KEYS", "TTPMAP_JWT_PUBLIC_KEYS", "TTPMAP_JWT_ISSUER", "TTPMAP_JWT_AUDIENCE", "TTPMAP_JWT_SECRET_FILE",
	"ELASTIC_URL", "ELASTIC_API_KEY", "ELASTIC_USERNAME", "ELASTIC_PASSWORD", "ELASTIC_INDEX", "ELASTIC_MIN_SEVERITY", "ELASTIC_TIMEOUT",
	"SPLUNK_URL", "SPLUNK_TOKEN", "SPLUNK_INDEX", "SPLUNK_SOURCE", "SPLUNK_SOURCETYPE", "SPLUNK_CHANNEL",
	"SPLUNK_USE_ACK", "SPLUNK_ACK_TIMEOUT", "SPLUNK_MIN_SEVERITY",
}

// loadServeConfig reads a --config file into setting name → value.
func loadServeConfig(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	out := map[string]string{}
	var errs []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			name := prefix + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
			if prefix == "TTPMAP_" && (name == "TTPMAP_ELASTIC" || name == "TTPMAP_SPLUNK") {
				name = strings.TrimPrefix(name, "TTPMAP_")
			}
			switch v := v.(type) {
			case map[string]any:
				walk(name+"_", v)
			case nil:
			case []any, map[any]any:
				errs = append(errs, fmt.Sprintf("%s: want a single value", configKey(name)))
			default:
				if name == "TTPMAP_JWT_SECRET" {
					errs = append(errs, "jwt.secret: keep the secret out of the config file; use jwt.secret_file or $TTPMAP_JWT_SECRET")
					continue
				}
				if !slices.Contains(serveSettings, name) {
					errs = append(errs, fmt.Sprintf("unknown setting %s", configKey(name)))
					continue
				}
				out[name] = fmt.Sprint(v)
			}
		}
	}
	walk("TTPMAP_", doc)
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("config %s: %s", path, strings.Join(errs, "; "))
	}
	return out, nil
}

// configKey spells a setting name as its config file key, for messages.
func configKey(name string) string {
	name = strings.TrimPrefix(name, "TTPMAP_")
	for _, sec := range []string{"ELASTIC_", "SPLUNK_", "TLS_", "JWT_"} {
		if rest, ok := strings.CutPrefix(name, sec); ok {
			return strings.ToLower(strings.TrimSuffix(sec, "_")) + "." + strings.ToLower(rest)
		}
	}
	return strings.ToLower(name)
}

// configFlag finds --config in args before the flags are parsed, since the
// file supplies the flags' defaults.
func configFlag(args []string) string {
	for i, a := range args {
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			return a[strings.Index(a, "=")+1:]
		}
	}
	return ""
}
