package enforce

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
	"unsafe"
)

var verdictSize = int(unsafe.Sizeof(driftVerdict{}))

// decodeVerdict reads one ring-buffer record of struct verdict.
func decodeVerdict(b []byte) (driftVerdict, error) {
	var v driftVerdict
	if len(b) < verdictSize {
		return v, fmt.Errorf("verdict record of %d bytes, want %d", len(b), verdictSize)
	}
	_, err := binary.Decode(b[:verdictSize], binary.NativeEndian, &v)
	return v, err
}

// verdict turns a kernel record into a Verdict; container names the
// container the cgroup belongs to.
func (k *kernel) verdict(r driftVerdict, container string) Verdict {
	v := Verdict{
		Time:      time.Unix(0, int64(r.Ts)+int64(k.bootOffset)),
		Container: container,
		CgroupID:  r.CgroupId,
		PID:       r.Pid,
		Path:      cString(r.Filename[:]),
		Name:      cString(r.Name[:]),
		Inode:     r.Ino,
		Mechanism: SIGKILL,
	}
	v.Reason = kernelReason(r.Reason)
	if v.Reason == Mapped {
		v.FileReason = kernelReason(r.FileReason)
	}
	v.OutsideCgroup = r.Flags&verdictOutsideCgroup != 0
	switch {
	case v.OutsideCgroup && r.Flags&verdictByMntNS != 0:
		v.Detail = fmt.Sprintf("outside its container's cgroup; recognised by its mount namespace (%d)", r.NsInum)
	case v.OutsideCgroup:
		v.Detail = fmt.Sprintf("outside its container's cgroup; recognised by its PID namespace (%d)", r.NsInum)
	}
	switch r.Action {
	case actionAudited:
		v.Action = Audited
	case actionKilled, actionDenied:
		v.Action = Blocked
	case actionKillFailed:
		v.Action = BlockFailed
	}
	if r.Mechanism == mechanismLSM {
		v.Mechanism = LSM
	}
	return v
}

func kernelReason(r uint8) Reason {
	switch r {
	case reasonMemfd:
		return Memfd
	case reasonDeleted:
		return Deleted
	case reasonUpper:
		return UpperLayer
	case reasonVolume:
		return Volume
	case reasonMapped:
		return Mapped
	}
	return ""
}

func cString(b []int8) string {
	u := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b))
	if i := bytes.IndexByte(u, 0); i >= 0 {
		u = u[:i]
	}
	return string(u)
}
