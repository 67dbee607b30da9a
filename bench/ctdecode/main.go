// Command ctdecode is the floor of bench/cloudtrail.sh: it decodes every
// JSON value of the files it is given, as the scan must, and does nothing
// else. It prints how many records it saw.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	records := 0
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		dec := json.NewDecoder(f)
		for {
			var v any
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
				break
			}
			switch t := v.(type) {
			case []any:
				records += len(t)
			case map[string]any:
				if rs, ok := t["Records"].([]any); ok {
					records += len(rs)
				} else {
					records++
				}
			}
		}
		f.Close()
	}
	fmt.Println(records, "records")
}
