// Package syscalls is the field catalogue of the Falco "syscall" source over
// mamori's events: it maps Falco's evt.*, proc.*, fd.*, user.*, group.*,
// thread.*, container.* and k8s.* fields and its evt.type names onto
// event.Event, so that upstream Falco rules run on what the eBPF sensor
// captures.
//
// It owns the meaning of each field, the Falco event-type names of the
// sensor's events, and the user and group names of a container (read from
// the container's own /etc/passwd and /etc/group). Fields Falco has that the
// sensor cannot feed are listed as known but not provided, each with what
// is missing, so that rules needing them load inactive with that reason.
// It must not change events, evaluate rules or write output.
package syscalls
