package sensor

import (
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/mamori-dev/mamori/event"
)

// dnsBodySize is struct dns_body's.
const dnsBodySize = 8

// decodeDNS reads a DNS response record: the question, the response code,
// and the answers that name addresses (A, AAAA) or aliases (CNAME). A
// response that does not parse is malformed.
func (d *decoder) decodeDNS(raw []byte, ev *event.Event) error {
	if len(raw) < headerSize+dnsBodySize {
		return malformed("dns record of %d bytes", len(raw))
	}
	if err := parseFields(raw[headerSize+dnsBodySize:], &d.fields); err != nil {
		return err
	}
	msg, _ := d.fields.get(tagData)
	reply, err := parseDNS(msg)
	if err != nil {
		return malformed("dns response: %v", err)
	}
	ev.Type, ev.DNS = event.DNS, reply
	// A softirq, not a process, delivered it: the header names none.
	ev.Process = event.Process{Ancestors: ev.Process.Ancestors[:0]}
	return nil
}

// parseDNS parses a DNS response, keeping what names addresses.
func parseDNS(msg []byte) (*event.DNSReply, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, err
	}
	if !h.Response {
		return nil, errNotResponse
	}
	r := &event.DNSReply{RCode: rcodeName(h.RCode)}
	q, err := p.Question()
	if err == nil {
		r.Question = trimDot(q.Name.String())
		r.Type = strings.TrimPrefix(q.Type.String(), "Type")
	} else if err != dnsmessage.ErrSectionDone {
		return nil, err
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, err
	}
	for {
		ah, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			// A truncated copy (the kernel copies 512 bytes) ends the
			// answers read so far.
			return r, nil
		}
		a := event.DNSAnswer{Name: trimDot(ah.Name.String()), TTL: ah.TTL}
		switch ah.Type {
		case dnsmessage.TypeA:
			rr, err := p.AResource()
			if err != nil {
				return r, nil
			}
			a.Type, a.Data = "A", netip.AddrFrom4(rr.A).String()
		case dnsmessage.TypeAAAA:
			rr, err := p.AAAAResource()
			if err != nil {
				return r, nil
			}
			a.Type, a.Data = "AAAA", netip.AddrFrom16(rr.AAAA).String()
		case dnsmessage.TypeCNAME:
			rr, err := p.CNAMEResource()
			if err != nil {
				return r, nil
			}
			a.Type, a.Data = "CNAME", trimDot(rr.CNAME.String())
		default:
			if err := p.SkipAnswer(); err != nil {
				return r, nil
			}
			continue
		}
		r.Answers = append(r.Answers, a)
	}
	return r, nil
}

type dnsError string

func (e dnsError) Error() string { return string(e) }

const errNotResponse = dnsError("a query, not a response")

func trimDot(name string) string { return strings.TrimSuffix(name, ".") }

// rcodeName is a response code's mnemonic, as dig prints it.
func rcodeName(c dnsmessage.RCode) string {
	switch c {
	case dnsmessage.RCodeSuccess:
		return "NOERROR"
	case dnsmessage.RCodeFormatError:
		return "FORMERR"
	case dnsmessage.RCodeServerFailure:
		return "SERVFAIL"
	case dnsmessage.RCodeNameError:
		return "NXDOMAIN"
	case dnsmessage.RCodeNotImplemented:
		return "NOTIMP"
	case dnsmessage.RCodeRefused:
		return "REFUSED"
	}
	return strings.TrimPrefix(c.String(), "RCode")
}
