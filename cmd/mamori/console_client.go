//go:build !agentonly

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mamori-dev/mamori/console"
	"github.com/mamori-dev/mamori/console/auth"
)

// consoleClient calls the console's API for the CLI (mamori policy apply,
// status).
type consoleClient struct {
	url, token, ca string
	http           *http.Client
}

// DefaultConsoleAPI is where `mamori console` serves its API by default.
const DefaultConsoleAPI = "https://127.0.0.1:9747"

func addConsoleClientFlags(fs *pflag.FlagSet) *consoleClient {
	c := &consoleClient{}
	fs.StringVar(&c.url, "console", DefaultConsoleAPI, "the console's API (mamori console --listen)")
	fs.StringVar(&c.token, "token", "", "the API token (default: $MAMORI_CONSOLE_TOKEN, or the admin token a first run wrote to\n"+
		DefaultConsoleDir+"/"+console.AdminTokenFile+" when it is readable)")
	fs.StringVar(&c.ca, "ca", "", "the console's CA certificate (default: "+DefaultConsoleDir+"/pki/ca.pem when it is readable)")
	return c
}

// setup finds the token and the CA where they are not given.
func (c *consoleClient) setup() error {
	if c.token == "" {
		c.token = os.Getenv("MAMORI_CONSOLE_TOKEN")
	}
	if c.token == "" {
		if b, err := os.ReadFile(filepath.Join(DefaultConsoleDir, console.AdminTokenFile)); err == nil {
			c.token = strings.TrimSpace(string(b))
		}
	}
	tr := &http.Transport{}
	if strings.HasPrefix(c.url, "https://") {
		ca := c.ca
		if ca == "" {
			ca = filepath.Join(DefaultConsoleDir, "pki", "ca.pem")
		}
		pem, err := os.ReadFile(ca)
		if err != nil && c.ca != "" {
			return fmt.Errorf("--ca: %w", err)
		}
		if err == nil {
			cfg, err := auth.ClientTLS(pem)
			if err != nil {
				return fmt.Errorf("%s: %w", ca, err)
			}
			tr.TLSClientConfig = cfg
		}
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	return nil
}

func (c *consoleClient) do(method, path string, body, out any) error {
	if c.http == nil {
		if err := c.setup(); err != nil {
			return err
		}
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(c.url, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("--console %q: %w", c.url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("ask the console at %s: %w (is mamori console running? --console names its API)", c.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("console: %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
