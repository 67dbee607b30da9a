// Package vuln owns vulnerability matching against an offline OSV
// database: loading OSV entries (https://ossf.github.io/osv-schema/) from
// a directory of JSON files or from the zip exports osv.dev publishes per
// ecosystem, indexing them by ecosystem and package name, and deciding
// which of an SBOM's packages each entry affects, with the version
// ordering of each ecosystem (dpkg, apk, PEP 440, SemVer...), the fixed
// version and a severity.
//
// The entry points are Load and (*DB).Match.
//
// It must not fetch anything (the database is a local copy the user
// keeps up to date), extract packages (package sbom does) or print.
package vuln
