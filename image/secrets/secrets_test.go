package secrets

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// Every secret in these tests is made up at run time from a seeded
// generator, so the repository holds no string that looks like a live key.
type gen struct{ r *rand.Rand }

func newGen(seed uint64) *gen { return &gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) str(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

func (g *gen) awsID() string     { return "AKIA" + g.str(16, base32) }
func (g *gen) awsSecret() string { return base64.StdEncoding.EncodeToString(g.bytes(30)) }

func (g *gen) pkcs8PEM() string {
	_, k, _ := ed25519.GenerateKey(bytes.NewReader(g.bytes(64)))
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func (g *gen) ecPEM() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), bytes.NewReader(g.bytes(256)))
	if err != nil {
		panic(err)
	}
	der, _ := x509.MarshalECPrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// opensshPEM builds the start of an openssh-key-v1 blob with the given
// cipher; the scanner reads no further than the cipher name.
func (g *gen) opensshPEM(cipher string) string {
	var blob bytes.Buffer
	blob.WriteString("openssh-key-v1\x00")
	for _, s := range []string{cipher, "none", ""} {
		binary.Write(&blob, binary.BigEndian, uint32(len(s)))
		blob.WriteString(s)
	}
	blob.Write(g.bytes(200))
	return string(pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: blob.Bytes()}))
}

func (g *gen) gcpJSON(kind string) string {
	b, _ := json.MarshalIndent(map[string]string{
		"type":           kind,
		"project_id":     "demo-project",
		"private_key_id": g.str(40, "0123456789abcdef"),
		"private_key":    g.pkcs8PEM(),
		"client_email":   "builder@demo-project.iam.gserviceaccount.com",
	}, "", "  ")
	return string(b) + "\n"
}

func (g *gen) jwt(payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(g.bytes(32))
}

// azurite is the Azure storage emulator's published development key,
// assembled so that the file holds no copy of it.
func azurite() string {
	return strings.Join([]string{"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq", "/K1SZFPTOtr/KBHBeksoGMGw=="}, "")
}

type want struct {
	rule     string
	line     int
	col      int
	severity Severity
	example  bool
}

func TestRules(t *testing.T) {
	g := newGen(1)
	id, secret := g.awsID(), g.awsSecret()
	sha1 := g.str(40, "0123456789abcdef")
	awsExampleID := "AKIA" + "IOSFODNN7" + "EXAMPLE"
	awsExampleSecret := "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
	azureKey := base64.StdEncoding.EncodeToString(g.bytes(64))
	ghp := "ghp_" + g.str(36, alnum)
	pat := "github_pat_" + g.str(22, alnum) + "_" + g.str(59, alnum)
	slack := "xoxb-" + g.str(12, "0123456789") + "-" + g.str(13, "0123456789") + "-" + g.str(24, alnum)
	hook := "https://hooks.slack.com/services/T" + g.str(8, base32) + "/B" + g.str(8, base32) + "/" + g.str(24, alnum)
	stripe := "sk_" + "live_" + g.str(24, alnum)
	restricted := "rk_" + "live_" + g.str(24, alnum)
	jwt := g.jwt(`{"sub":"user-42","iat":1700000000}`)
	jwtSample := g.jwt(`{"sub":"1234567890","name":"John Doe","iat":1516239022}`)

	for _, tc := range []struct {
		name string
		text string
		want []want
	}{
		{"aws pair", "[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n",
			[]want{{"aws-access-key", 2, 21, Critical, false}}},
		{"aws pair in env, 5 lines apart", "export AWS_ACCESS_KEY_ID=" + id + "\n\n\n\n\nexport AWS_SECRET_ACCESS_KEY=" + secret + "\n",
			[]want{{"aws-access-key", 1, 26, Critical, false}}},
		{"aws id, secret 6 lines away", "key=" + id + "\n\n\n\n\n\nsecret=" + secret + "\n",
			[]want{{"aws-access-key-id", 1, 5, Medium, false}}},
		{"aws id next to a git commit", "key: " + id + "\ncommit: " + sha1 + "\n",
			[]want{{"aws-access-key-id", 1, 6, Medium, false}}},
		{"aws temporary key", "ASIA" + id[4:] + " " + secret, []want{{"aws-access-key", 1, 1, Critical, false}}},
		{"aws documentation example", "id=" + awsExampleID + "\nsecret=" + awsExampleSecret + "\n",
			[]want{{"aws-access-key", 1, 4, Low, true}}},
		{"aws secret alone", "AWS_SECRET_ACCESS_KEY: \"" + secret + "\"\n", []want{{"aws-secret-access-key", 1, 25, High, false}}},
		{"aws placeholder id", "AKIA" + strings.Repeat("X", 16) + "\n", nil},
		{"aws id inside a word", "XAKIA" + id[4:] + "Y\n", nil},
		{"aws secret placeholder", "aws_secret_access_key = " + strings.Repeat("x", 40) + "\n", nil},

		{"pkcs8 key", "# key\n" + g.pkcs8PEM(), []want{{"private-key", 2, 1, Critical, false}}},
		{"ec key", g.ecPEM(), []want{{"private-key", 1, 1, Critical, false}}},
		{"openssh key", g.opensshPEM("none"), []want{{"private-key", 1, 1, Critical, false}}},
		{"openssh key with passphrase", g.opensshPEM("aes256-ctr"), []want{{"private-key", 1, 1, Medium, false}}},
		{"pem encrypted", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00AA\n\n" + base64.StdEncoding.EncodeToString(g.bytes(48)) + "\n-----END RSA PRIVATE KEY-----\n",
			[]want{{"private-key", 1, 1, Medium, false}}},
		{"key in a JSON string", `{"key": "` + strings.ReplaceAll(g.pkcs8PEM(), "\n", `\n`) + `"}`, []want{{"private-key", 1, 10, Critical, false}}},
		{"code that names the header", "const header = \"-----BEGIN RSA PRIVATE KEY-----\"\n", nil},
		{"public key", strings.ReplaceAll(g.pkcs8PEM(), "PRIVATE", "PUBLIC"), nil},

		{"gcp service account", g.gcpJSON("service_account"), []want{{"gcp-service-account", 3, 3, Critical, false}}},
		{"json private key, not a service account", g.gcpJSON("authorized_user"), []want{{"private-key", 3, 19, Critical, false}}},

		{"azure connection string", "conn=DefaultEndpointsProtocol=https;AccountName=demoacct;AccountKey=" + azureKey + ";EndpointSuffix=core.windows.net\n",
			[]want{{"azure-storage-key", 1, 58, Critical, false}}},
		{"azurite development key", "AccountName=devstoreaccount1;AccountKey=" + azurite() + ";\n", []want{{"azure-storage-key", 1, 30, Low, true}}},
		{"azure placeholder", "AccountKey=" + strings.Repeat("A", 86) + "==\n", nil},
		{"azure short", "AccountKey=" + azureKey[:40] + "\n", nil},

		{"github classic", "token: " + ghp + "\n", []want{{"github-token", 1, 8, Critical, false}}},
		{"github fine-grained", "GH=" + pat, []want{{"github-token", 1, 4, Critical, false}}},
		{"github placeholder", "ghp_" + strings.Repeat("x", 36), nil},
		{"github too short", ghp[:len(ghp)-1], nil},
		{"github in a longer word", "a" + ghp + "b", nil},

		{"slack bot token", "SLACK_TOKEN=" + slack + "\n", []want{{"slack-token", 1, 13, Critical, false}}},
		{"slack placeholder", "SLACK_TOKEN=xoxb-your-token-here\n", nil},
		{"slack webhook", "url: " + hook + "\n", []want{{"slack-webhook", 1, 6, High, false}}},

		{"stripe live key", "stripe.key = '" + stripe + "'\n", []want{{"stripe-key", 1, 15, Critical, false}}},
		{"stripe restricted key", restricted, []want{{"stripe-key", 1, 1, High, false}}},
		{"stripe test key", "sk_test_" + g.str(24, alnum), nil},
		{"stripe placeholder", "sk_" + "live_" + strings.Repeat("0", 24), nil},

		{"jwt", "Authorization: Bearer " + jwt + "\n", []want{{"jwt", 1, 23, Medium, false}}},
		{"jwt.io sample", jwtSample, []want{{"jwt", 1, 1, Low, true}}},
		{"not a jwt", "eyJub3QganNvbg.eyJub3QganNvbg." + g.str(30, alnum), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, tc.text, tc.want)
			// CRLF line ends: the same lines and columns.
			checkFindings(t, strings.ReplaceAll(tc.text, "\n", "\r\n"), tc.want)
		})
	}
}

func checkFindings(t *testing.T, text string, wants []want) {
	t.Helper()
	s := New(Config{})
	res, err := s.Scan("/etc/app.conf", int64(len(text)), strings.NewReader(text))
	if err != nil || res.Skipped != "" {
		t.Fatalf("scan: %v, skipped %q", err, res.Skipped)
	}
	var got []want
	for _, f := range res.Findings {
		got = append(got, want{f.Rule, f.Line, f.Column, f.Severity, f.Example})
		if f.Path != "/etc/app.conf" || f.Title == "" || len(f.Fingerprint) != 16 {
			t.Errorf("finding %+v", f)
		}
		assertRedacted(t, text, f)
	}
	if fmt.Sprint(got) != fmt.Sprint(wants) {
		t.Errorf("findings %+v\nwant %+v\nin %q", res.Findings, wants, text)
	}
}

// assertRedacted: the match ends in the mask, and what it shows before
// the mask is less than the token at that place in the text.
func assertRedacted(t *testing.T, text string, f Finding) {
	t.Helper()
	if !strings.HasSuffix(f.Match, "***") && !strings.HasSuffix(f.Match, `***"`) {
		t.Errorf("match %q is not masked", f.Match)
	}
	for part := range strings.SplitSeq(f.Match, "***") {
		if len(part) > 40 && !strings.Contains(part, "BEGIN") {
			t.Errorf("match %q shows a long run of the secret", f.Match)
		}
	}
}

func TestLineNumbersAcrossLineEnds(t *testing.T) {
	g := newGen(2)
	ghp := "ghp_" + g.str(36, alnum)
	stripe := "sk_" + "live_" + g.str(30, alnum)
	lines := []string{"first", "", "  token " + ghp, "x", "\tkey=" + stripe, "", ghp}
	for _, eol := range []string{"\n", "\r\n"} {
		res := New(Config{}).ScanBytes("f", []byte(strings.Join(lines, eol)))
		var got []string
		for _, f := range res.Findings {
			got = append(got, fmt.Sprintf("%s@%d:%d", f.Rule, f.Line, f.Column))
		}
		if strings.Join(got, " ") != "github-token@3:9 stripe-key@5:6 github-token@7:1" {
			t.Errorf("eol %q: %v", eol, got)
		}
		if res.Findings[0].Fingerprint != res.Findings[2].Fingerprint {
			t.Error("the same token has two fingerprints")
		}
	}
}

func TestSkipped(t *testing.T) {
	g := newGen(3)
	ghp := "ghp_" + g.str(36, alnum)
	s := New(Config{MaxFileSize: 1000})

	bin := append([]byte("\x7fELF\x02\x01\x01\x00"), ghp...)
	if res := s.ScanBytes("/bin/app", bin); res.Skipped != "binary" || len(res.Findings) != 0 {
		t.Errorf("binary: %+v", res)
	}
	// A NUL past the sniffed prefix does not make a text file binary.
	late := append(append([]byte(ghp+"\n"), bytes.Repeat([]byte("x"), sniffLen)...), 0)
	if res := New(Config{}).ScanBytes("late", late); res.Skipped != "" || len(res.Findings) != 1 {
		t.Errorf("late NUL: skipped %q", res.Skipped)
	}
	big := strings.Repeat("y", 1001)
	for _, size := range []int64{1001, -1} {
		res, err := s.Scan("big", size, strings.NewReader(big+ghp))
		if err != nil || !strings.Contains(res.Skipped, "larger than 1000") {
			t.Errorf("size %d: %+v %v", size, res, err)
		}
	}
	if res, err := s.Scan("small", -1, strings.NewReader(ghp)); err != nil || len(res.Findings) != 1 {
		t.Errorf("unknown size: %+v %v", res, err)
	}
	if _, err := s.Scan("broken", -1, io.MultiReader(strings.NewReader("a"), errReader{})); err == nil {
		t.Error("read error not returned")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }

// A token longer than a keyword's window is not cut into a shorter match.
func TestLongLines(t *testing.T) {
	g := newGen(4)
	ghp := "ghp_" + g.str(36, alnum)
	long := strings.Repeat("a", 100000) + " " + ghp + " " + strings.Repeat("b", 100000)
	res := New(Config{}).ScanBytes("min.js", []byte(long))
	if len(res.Findings) != 1 || res.Findings[0].Column != 100002 {
		t.Errorf("long line: %+v", res.Findings)
	}
	glued := "ghp_" + g.str(36+windowAfter, alnum) // one long word: no token
	if res := New(Config{}).ScanBytes("x", []byte(glued)); len(res.Findings) != 0 {
		t.Errorf("cut token matched: %+v", res.Findings)
	}
}

func TestRulesListed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range New(Config{}).Rules() {
		if r.ID == "" || r.Title == "" || r.Severity == "" || seen[r.ID] {
			t.Errorf("rule %+v", r)
		}
		seen[r.ID] = true
	}
}
