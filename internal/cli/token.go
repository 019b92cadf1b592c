package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/server/auth"
)

// runToken mints an HS256 bearer token for an operator.
func runToken(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "token",
		"ttpmap token --role analyst|admin [--ttl 1h] [--secret-file FILE] | --api-key --role ROLE [--name NAME]",
		"  TTPMAP_JWT_SECRET=$(cat secret) ttpmap token --role analyst --ttl 8h\n"+
			"  ttpmap token --role admin --secret-file /etc/ttpmap/jwt.secret\n"+
			"  ttpmap token --api-key --role analyst --name siem-forwarder 2>>keys.txt   # key on stdout, hashed line for --api-keys on stderr",
		flagGroup{"Token", []string{"role", "ttl", "secret-file", "api-key", "name"}})
	role := fs.String("role", "", "role claim: analyst (enrich, read) or admin (also configure, delete)")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	apiKey := fs.Bool("api-key", false, "make an API key for a machine client instead: the key on stdout, its hashed line for serve --api-keys on stderr")
	name := fs.String("name", "", "who holds the API key (a word; recorded in the key file)")
	secretFile := fs.String("secret-file", "", "read the HS256 secret from `FILE` instead of $"+auth.SecretEnv)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *role == "" {
		return &usageError{"--role is required (analyst or admin)"}
	}
	if _, err := auth.ParseRole(*role); err != nil {
		return &usageError{fmt.Sprintf("--role %q: want analyst or admin", *role)}
	}
	if *apiKey {
		if strings.ContainsAny(*name, " \t\r\n") {
			return &usageError{"--name must be one word"}
		}
		key := auth.NewAPIKey()
		fmt.Fprintln(e.stdout, key)
		fmt.Fprintln(e.stderr, strings.TrimSpace(auth.HashAPIKey(key)+" "+*role+" "+*name))
		return nil
	}
	if *ttl <= 0 {
		return &usageError{fmt.Sprintf("--ttl %s: must be positive", *ttl)}
	}
	var secret []byte
	if *secretFile != "" {
		data, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("read secret: %w", err)
		}
		secret = []byte(strings.TrimRight(string(data), "\r\n"))
	} else {
		secret = []byte(os.Getenv(auth.SecretEnv))
	}
	if len(secret) == 0 {
		return &usageError{"no secret: set " + auth.SecretEnv + " or give --secret-file"}
	}
	tok, err := auth.Mint(secret, *role, *ttl, time.Now())
	if errors.Is(err, auth.ErrWeakSecret) {
		return &usageError{fmt.Sprintf("the secret must be at least %d bytes", auth.MinSecretLen)}
	}
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}
