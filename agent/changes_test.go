package agent

import (
	"log/slog"
	"reflect"
	"testing"

	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/sensor"
)

// TestNarrowChanges checks how what the rules need of removes, renames
// and mkdirs becomes the sensor's filter: each kind's keys as they are,
// none with --events or --event-types, and none when the substrings to
// look for, with the opens', are more than the kernel holds.
func TestNarrowChanges(t *testing.T) {
	needs := detect.Needs{
		Removes: detect.PathKeys{Prefixes: []string{"/bin/"}, Suffixes: []string{"ash_history"}, Contains: []string{"fish_read_histor"}},
		Renames: detect.RenameKeys{From: detect.PathKeys{Comms: []string{"tar"}}, To: detect.PathKeys{Contains: []string{"/."}}},
		Mkdirs:  detect.PathKeys{All: true},
	}
	log := slog.New(slog.DiscardHandler)
	opens := sensor.OpenFilter{Contains: []string{"../"}, Writes: &sensor.WriteFilter{OpenKeys: sensor.OpenKeys{Contains: []string{"fish_read_histor"}}}}
	NarrowChanges(&opens, needs, true, log)
	want := &sensor.ChangeFilter{
		Removes:     sensor.ChangeKeys{Prefixes: []string{"/bin/"}, Suffixes: []string{"ash_history"}, Contains: []string{"fish_read_histor"}},
		RenamesFrom: sensor.ChangeKeys{Comms: []string{"tar"}},
		RenamesTo:   sensor.ChangeKeys{Contains: []string{"/."}},
		Mkdirs:      sensor.ChangeKeys{All: true},
	}
	if !reflect.DeepEqual(opens.Changes, want) {
		t.Errorf("changes %+v\nwant %+v", opens.Changes, want)
	}
	if NarrowChanges(&opens, needs, false, log); opens.Changes != nil {
		t.Errorf("with --events: changes %+v, want none (every one)", opens.Changes)
	}
	opens.Contains = []string{"../", "/.ssh/", "kmsg"} // five with the changes' and the writes'
	if NarrowChanges(&opens, needs, true, log); opens.Changes != nil {
		t.Errorf("with five substrings: changes %+v, want none (every one)", opens.Changes)
	}
}
