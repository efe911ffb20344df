// Command fakeupstream serves internal/fakeupstream, the fast deterministic OpenAI-compatible server
// the provider benchmark puts behind nginx and behind the provider: it listens on --listen and
// prints "listening on http://ADDR" once it serves.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/cocoon-go/cocoon/internal/fakeupstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "host:port to serve on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	if err := http.Serve(ln, &fakeupstream.Server{Models: []string{"fake-model"}, NoRecord: true}); err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
}
