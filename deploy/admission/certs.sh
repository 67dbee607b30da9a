#!/usr/bin/env bash
# Makes a CA and a serving certificate for the webhook Service with
# openssl, stores them in the Secret mamori-admission-tls, and writes
# webhook.yaml with the CA as its caBundle to stdout:
#
#   deploy/admission/certs.sh | kubectl apply -f -
#
# Clusters with cert-manager should use a Certificate for
# mamori-admission.mamori.svc instead, and its CA injector for caBundle
# (docs/admission.md). The webhook reads the certificate again when the
# Secret changes, so rotation needs no restart.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=mamori
svc=mamori-admission
days=${DAYS:-365}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -days "$days" -subj "/CN=mamori admission CA" \
	-keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$svc.$ns.svc" -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s.%s,DNS:%s.%s.svc\nextendedKeyUsage=serverAuth\n' "$svc" "$svc" "$ns" "$svc" "$ns" > ext.cnf
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" -extfile ext.cnf -out tls.crt 2>/dev/null
kubectl -n "$ns" create secret tls mamori-admission-tls --cert=tls.crt --key=tls.key \
	--dry-run=client -o yaml | kubectl apply -f - >&2
sed "s|CA_BUNDLE|$(base64 -w0 < ca.crt)|" "$here/webhook.yaml"
