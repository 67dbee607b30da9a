package hostlogin

import (
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// doc is one RuntimePolicy with a host scope.
func doc(name, mode, scope, controls string) string {
	return "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: " + name + "}\nspec:\n  mode: " + mode +
		"\n  scope: " + scope + "\n  controls:\n    hostLogins: " + controls + "\n---\n"
}

const onHost = "{not: {container: {}}}"

func effective(t *testing.T, hostname string, docs ...string) *policy.Effective {
	t.Helper()
	ps, err := policy.Parse("test.yaml", []byte(strings.Join(docs, "")))
	if err != nil {
		t.Fatal(err)
	}
	ps = append(policy.Builtin(), ps...)
	return policy.Merge(policy.TargetFromContainer(nil, policy.WithHost(policy.HostFacts{Hostname: hostname, Groups: []string{"prod"}})), ps)
}

// TestDecide: block and allow lists by user and group (globs), the two
// tiers (enforce refuses, audit reports), merging of several policies as
// package policy defines it (block lists unite, allow lists intersect,
// a policy without an allow list leaves it alone), host scopes, and the
// reason and policies of each verdict.
func TestDecide(t *testing.T) {
	type login struct {
		user   string
		groups []string
		action string
		reason string // a fragment
		policy string // the policies that decided, comma-separated
	}
	cases := []struct {
		name   string
		docs   []string
		logins []login
	}{
		{"block by user and group", []string{doc("b", "enforce", onHost, "{blockUsers: [guest, \"test*\"], blockGroups: [contractors]}")}, []login{
			{"alice", []string{"alice", "ops"}, "", "", ""},
			{"guest", []string{"guest"}, event.Blocked, "user guest is on blockUsers (guest)", "b"},
			{"tester", nil, event.Blocked, "blockUsers (test*)", "b"},
			{"carol", []string{"carol", "contractors"}, event.Blocked, "in a group on blockGroups (contractors)", "b"},
		}},
		{"allow list by group: only members", []string{doc("a", "enforce", onHost, "{allowGroups: [ops, \"sre-*\"]}")}, []login{
			{"dave", []string{"dave", "ops"}, "", "", ""},
			{"erin", []string{"sre-eu"}, "", "", ""},
			{"alice", []string{"alice"}, event.Blocked, "no group of user alice (alice) is on allowGroups (ops, sre-*)", "a"},
			{"ghost", nil, event.Blocked, "(none)", "a"},
		}},
		{"allow users and groups: both must allow", []string{doc("a", "enforce", onHost, "{allowUsers: [dave, erin], allowGroups: [ops]}")}, []login{
			{"dave", []string{"ops"}, "", "", ""},
			{"erin", []string{"dev"}, event.Blocked, "allowGroups", "a"},
			{"frank", []string{"ops"}, event.Blocked, "user frank is not on allowUsers (dave, erin)", "a"},
		}},
		{"block beats allow", []string{doc("a", "enforce", onHost, "{allowGroups: [ops], blockUsers: [dave]}")}, []login{
			{"dave", []string{"ops"}, event.Blocked, "blockUsers", "a"},
		}},
		{"audit reports, does not refuse", []string{doc("audit", "audit", onHost, "{blockUsers: [guest]}")}, []login{
			{"guest", nil, event.Audited, "blockUsers (guest)", "audit"},
			{"alice", nil, "", "", ""},
		}},
		{"block lists unite", []string{
			doc("one", "enforce", onHost, "{blockUsers: [guest]}"),
			doc("two", "enforce", onHost, "{blockUsers: [mallory], blockGroups: [contractors]}"),
		}, []login{
			{"guest", nil, event.Blocked, "blockUsers (guest)", "one"},
			{"mallory", nil, event.Blocked, "blockUsers (mallory)", "two"},
			{"carol", []string{"contractors"}, event.Blocked, "blockGroups", "two"},
			{"alice", nil, "", "", ""},
		}},
		{"allow lists intersect", []string{
			doc("ops-sre", "enforce", onHost, "{allowGroups: [ops, sre]}"),
			doc("ops-only", "enforce", onHost, "{allowGroups: [ops]}"),
			doc("no-allow", "enforce", onHost, "{blockUsers: [guest]}"),
		}, []login{
			{"dave", []string{"ops"}, "", "", ""},
			{"sam", []string{"sre"}, event.Blocked, "allowGroups (ops)", "ops-sre,ops-only"},
		}},
		{"disjoint allow lists allow nobody", []string{
			doc("ops", "enforce", onHost, "{allowUsers: [dave]}"),
			doc("sre", "enforce", onHost, "{allowUsers: [sam]}"),
		}, []login{
			{"dave", nil, event.Blocked, "allow nobody in common", "ops,sre"},
		}},
		{"enforce beats audit; a stricter audit list only reports", []string{
			doc("enforce", "enforce", onHost, "{blockUsers: [guest]}"),
			doc("trial", "audit", onHost, "{blockUsers: [guest, intern]}"),
		}, []login{
			{"guest", nil, event.Blocked, "guest", "enforce"},
			{"intern", nil, event.Audited, "blockUsers (intern)", "trial"},
		}},
		{"turned off", []string{doc("off", "enforce", onHost, "{enabled: false, blockUsers: [guest]}")}, []login{
			{"guest", nil, "", "", ""},
		}},
		{"host scopes: hostname and group", []string{
			doc("elsewhere", "enforce", "{host: {hostname: other-host}}", "{blockUsers: [alice]}"),
			doc("here", "enforce", "{host: {hostname: \"web-*\"}}", "{blockUsers: [bob]}"),
			doc("prod", "enforce", "{host: {group: prod}}", "{blockUsers: [carol]}"),
			doc("staging", "enforce", "{host: {group: staging}}", "{blockUsers: [dave]}"),
		}, []login{
			{"alice", nil, "", "", ""},
			{"bob", nil, event.Blocked, "bob", "here"},
			{"carol", nil, event.Blocked, "carol", "prod"},
			{"dave", nil, "", "", ""},
		}},
		{"container scopes do not apply to the host", []string{doc("ctr", "enforce", "{container: {}}", "{blockUsers: [alice]}")}, []login{
			{"alice", nil, "", "", ""},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eff := effective(t, "web-1", c.docs...)
			for _, l := range c.logins {
				v := Decide(eff, l.user, l.groups)
				if v.Action != l.action || !strings.Contains(v.Reason, l.reason) || strings.Join(v.Policies, ",") != l.policy {
					t.Errorf("%s %v: got action %q reason %q policies %v; want %q, reason with %q, policies %q",
						l.user, l.groups, v.Action, v.Reason, v.Policies, l.action, l.reason, l.policy)
				}
				if v.Refused() != (l.action == event.Blocked) {
					t.Errorf("%s: Refused() = %v with action %q", l.user, v.Refused(), v.Action)
				}
				// Decide must agree with the control's own rule in each tier.
				if h := eff.Enforce.Controls.HostLogins; h.On() && h.Allowed(l.user, l.groups) == v.Refused() {
					t.Errorf("%s: Decide refused=%v but HostLogins.Allowed=%v", l.user, v.Refused(), h.Allowed(l.user, l.groups))
				}
			}
		})
	}
}

// TestFromEnvLastWins: pam_exec appends the PAM items after the PAM
// environment, which a user can fill; the item must win.
func TestFromEnvLastWins(t *testing.T) {
	l, err := FromEnv([]string{"PAM_USER=dave", "PATH=/bin", "PAM_SERVICE=sshd", "PAM_RHOST=192.0.2.7",
		"PAM_TTY=ssh", "PAM_TYPE=account", "PAM_USER=guest", "BROKEN"})
	if err != nil {
		t.Fatal(err)
	}
	want := Login{User: "guest", Service: "sshd", RHost: "192.0.2.7", TTY: "ssh", Type: "account"}
	if l != want {
		t.Errorf("got %+v, want %+v", l, want)
	}
	if _, err := FromEnv([]string{"PAM_SERVICE=sshd"}); err != ErrNoUser {
		t.Errorf("no PAM_USER: got %v, want ErrNoUser", err)
	}
	for typ, judged := range map[string]bool{"account": true, "": true, "auth": true, "open_session": true, "close_session": false, "password": false} {
		if (Login{User: "x", Type: typ}).Judged() != judged {
			t.Errorf("PAM_TYPE %q: Judged() = %v", typ, !judged)
		}
	}
}

// TestGroups reads the real user database: root is in group root, and a
// user it does not know has no groups and no error.
func TestGroups(t *testing.T) {
	gs, err := Groups("root")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(gs, "root") {
		t.Errorf("root's groups %v lack root", gs)
	}
	gs, err = Groups("no-such-user-mamori-test")
	if err != nil || gs != nil {
		t.Errorf("unknown user: got %v, %v; want no groups and no error", gs, err)
	}
}
