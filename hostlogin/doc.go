// Package hostlogin owns the hostLogins control's decision at the host's
// door: who is logging in (the PAM items pam_exec hands a program), which
// groups that user belongs to in the system's user database, whether the
// merged hostLogins control of the policies that cover this host refuses
// or only reports the login, the alert that says so, and the one line in a
// PAM service file that makes PAM ask.
//
// PAM refuses the login; this package only decides. It loads no eBPF,
// opens no network connection and keeps no state between calls: it runs
// once per login, in a process of its own, and must be quick. It reads
// policies through package policy and never changes them.
package hostlogin
