package event

import "time"

// KindObservation is the kind of Observation records.
const KindObservation = "observation"

// Workload names what a behaviour profile is about: in Kubernetes a pod's
// owner (its Deployment, or the pod name without the generated suffix) in
// its namespace, running one image digest; a plain container by its image
// digest alone. A new image digest is a new workload, learnt afresh.
type Workload struct {
	Cluster     string `json:"cluster"`
	Namespace   string `json:"namespace,omitempty"`
	Owner       string `json:"owner,omitempty"`
	ImageDigest string `json:"image_digest"`
	// Image and Name are for people: the image reference and a name (the
	// owner, or a container's name) as last seen; not part of the key.
	Image string `json:"image,omitempty"`
	Name  string `json:"name,omitempty"`
}

// Key is the workload's identity as one string.
func (w Workload) Key() string {
	return w.Cluster + "/" + w.Namespace + "/" + w.Owner + "/" + w.ImageDigest
}

// Family is the workload without its image: what stays the same when the
// image changes (its deleted items carry over to the new image's profile).
func (w Workload) Family() string {
	if w.Namespace == "" && w.Owner == "" {
		return w.Cluster + "//" + w.Name + "/"
	}
	return w.Cluster + "/" + w.Namespace + "/" + w.Owner + "/"
}

// Kinds of observed items.
const (
	ItemExec    = "exec"    // a program run: path, parent, digest
	ItemEgress  = "egress"  // an outbound connection: address, port, protocol, DNS name
	ItemIngress = "ingress" // an inbound connection: peer address, local port, protocol
	ItemListen  = "listen"  // a port bound or listened on: "8080/tcp", "53/udp"
	ItemFile    = "file"    // a directory written to outside the image's files
)

// Observation is what one agent saw one workload do in one window: each
// item with its count and times, the most processes alive at once, the
// workload's addresses and its connections per minute. Agents send them to
// the console, which merges every node's into the workload's profile.
type Observation struct {
	Kind     string    `json:"kind"` // always "observation"
	Cluster  string    `json:"cluster"`
	Node     string    `json:"node"`
	Time     time.Time `json:"time"`
	Workload Workload  `json:"workload"`
	// Containers are the ids of the workload's containers seen.
	Containers []string       `json:"containers,omitempty"`
	Items      []ObservedItem `json:"items,omitempty"`
	// MaxProcesses is the most tasks (threads count, as the pids cgroup
	// counts them) alive at once in one of its containers.
	MaxProcesses int `json:"max_processes,omitempty"`
	// Addresses are the containers' own addresses, so that the console
	// can name the workload behind a destination.
	Addresses []string `json:"addresses,omitempty"`
	Flows     []Flow   `json:"flows,omitempty"`
}

// ObservedItem is one thing a workload did, with its evidence.
type ObservedItem struct {
	Kind     string    `json:"kind"`
	Key      string    `json:"key"`
	Path     string    `json:"path,omitempty"`    // exec: the program; file: the directory
	Parent   string    `json:"parent,omitempty"`  // exec: the parent's program
	Digest   string    `json:"digest,omitempty"`  // exec: sha256 of the program, hex
	Drifted  bool      `json:"drifted,omitempty"` // exec: not in the image (upper layer or memfd)
	IP       string    `json:"ip,omitempty"`      // egress: the destination; ingress: the peer
	Port     uint16    `json:"port,omitempty"`    // egress: the destination's; ingress and listen: the local
	Protocol string    `json:"protocol,omitempty"`
	DNS      string    `json:"dns,omitempty"` // egress: the name the address was resolved from
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Count    int64     `json:"count"`
}

// Flow verdicts.
const (
	FlowAllowed = "allowed"
	FlowRefused = "refused"
)

// Flow is a workload's outbound connections to one destination in one
// minute.
type Flow struct {
	Minute   time.Time `json:"minute"`
	DstIP    string    `json:"dst_ip"`
	DstPort  uint16    `json:"dst_port"`
	Protocol string    `json:"protocol"`
	DNS      string    `json:"dns,omitempty"`
	Verdict  string    `json:"verdict"`
	Count    int64     `json:"count"`
}
