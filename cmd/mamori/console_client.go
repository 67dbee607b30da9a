package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// consoleClient calls the console's API for the CLI (mamori policy apply,
// status).
type consoleClient struct {
	url, token string
	http       *http.Client
}

// DefaultConsoleAPI is where `mamori console` serves its API by default.
const DefaultConsoleAPI = "http://127.0.0.1:9747"

func addConsoleClientFlags(fs *flag.FlagSet) *consoleClient {
	c := &consoleClient{http: &http.Client{Timeout: 30 * time.Second}}
	fs.StringVar(&c.url, "console", DefaultConsoleAPI, "the console's API (mamori console --listen)")
	fs.StringVar(&c.token, "token", "", "the API token (default: $MAMORI_CONSOLE_TOKEN)")
	return c
}

func (c *consoleClient) do(method, path string, body, out any) error {
	if c.token == "" {
		c.token = os.Getenv("MAMORI_CONSOLE_TOKEN")
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
		return fmt.Errorf("ask the console at %s: %w (is `mamori console` running? --console names its API)", c.url, err)
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
