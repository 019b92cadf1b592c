package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// APIKeyHeader is the request header carrying an API key.
const APIKeyHeader = "X-API-Key"

type roleKey struct{}

// WithRole returns ctx carrying role.
func WithRole(ctx context.Context, role Role) context.Context {
	return context.WithValue(ctx, roleKey{}, role)
}

// RoleFrom returns the role Middleware put in ctx.
func RoleFrom(ctx context.Context) (Role, bool) {
	r, ok := ctx.Value(roleKey{}).(Role)
	return r, ok
}

// Middleware admits requests with a valid credential whose role allows
// need: "Authorization: Bearer <jwt>" checked by v, or an X-API-Key header
// checked by keys (either may be nil to disable it). Missing, invalid or
// expired credentials get 401 with WWW-Authenticate: Bearer; a role that
// does not allow need gets 403. counter, when not nil, is called once per
// refusal with Reason of the error. Responses never contain the
// credential, and nothing is logged.
func Middleware(v *Verifier, keys *KeySet, need Role, counter func(reason string)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			role, err := authenticate(r, v, keys, time.Now())
			if err == nil && !role.Allows(need) {
				err = ErrForbidden
			}
			if err != nil {
				if counter != nil {
					counter(Reason(err))
				}
				refuse(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithRole(r.Context(), role)))
		})
	}
}

// authenticate returns the role of r's credential.
func authenticate(r *http.Request, v *Verifier, keys *KeySet, now time.Time) (Role, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", ErrMissing
		}
		if v == nil {
			return "", ErrAlgorithm
		}
		c, err := v.Verify(strings.TrimSpace(token), now)
		if err != nil {
			return "", err
		}
		return c.Role, nil
	}
	if key := r.Header.Get(APIKeyHeader); key != "" {
		if keys == nil {
			return "", ErrAPIKey
		}
		k, err := keys.Check(key)
		if err != nil {
			return "", err
		}
		return k.Role, nil
	}
	return "", ErrMissing
}

// refuse writes the 401 or 403 for err. The body holds a fixed message per
// reason, never the error text, so nothing from the request is echoed.
func refuse(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	switch {
	case errors.Is(err, ErrForbidden):
		h.Set("WWW-Authenticate", `Bearer realm="ttpmap", error="insufficient_scope"`)
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":"forbidden","message":"role not allowed"}` + "\n"))
	case errors.Is(err, ErrMissing):
		h.Set("WWW-Authenticate", `Bearer realm="ttpmap"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthorized","message":"credentials required"}` + "\n"))
	default:
		h.Set("WWW-Authenticate", `Bearer realm="ttpmap", error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthorized","message":"` + message(Reason(err)) + `"}` + "\n"))
	}
}

// message is the fixed 401 text for a refusal reason.
func message(reason string) string {
	switch reason {
	case "expired":
		return "token expired"
	case "not_yet_valid":
		return "token not yet valid"
	case "api_key":
		return "invalid API key"
	case "signature", "algorithm", "malformed", "claims", "role":
		return "invalid token"
	}
	return "invalid credentials"
}
