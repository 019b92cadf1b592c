package taxii

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// acceptable reports whether the Accept header values allow a TAXII 2.1
// (or STIX 2.1) JSON reply. No header accepts anything; media ranges with
// q=0 refuse; unparsable ranges are ignored.
func acceptable(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, rng := range strings.Split(v, ",") {
			if strings.TrimSpace(rng) == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(rng)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			switch mt {
			case "*/*", "application/*":
				return true
			case "application/taxii+json", "application/stix+json":
				if ver, ok := params["version"]; !ok || ver == "2.1" {
					return true
				}
			}
		}
	}
	return false
}

// taxiiContent reports whether a Content-Type header is TAXII 2.1 JSON.
func taxiiContent(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/taxii+json" {
		return false
	}
	ver, ok := params["version"]
	return !ok || ver == "2.1"
}

// writeJSON writes v as a TAXII reply.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"title":"internal error","http_status":"500"}`)
	}
	w.Header().Set("Content-Type", MediaTAXII)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

// taxiiError is a TAXII 2.1 error message (§3.6.1).
type taxiiError struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	HTTPStatus  string `json:"http_status"`
}

// writeError writes a TAXII error message.
func writeError(w http.ResponseWriter, code int, title, desc string) {
	writeJSON(w, code, taxiiError{Title: title, Description: desc, HTTPStatus: strconv.Itoa(code)})
}
