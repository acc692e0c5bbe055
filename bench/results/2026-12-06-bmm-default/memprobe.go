//go:build ignore

// memprobe: the peak RSS of one model loaded and invoked once (go run memprobe.go -model M -kernels K -threads N).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/edged/edged/internal/bench"
	"github.com/edged/edged/runtime/tflite"
)

func main() {
	model := flag.String("model", "", "tflite")
	k := flag.String("kernels", "auto", "")
	th := flag.Int("threads", 2, "")
	n := flag.Int("n", 1, "interpreters")
	flag.Parse()
	bench.ResetPeakRSS()
	var ips []*tflite.Interpreter
	for i := 0; i < *n; i++ {
		m, err := tflite.LoadModel(*model)
		if err != nil {
			panic(err)
		}
		ip, err := tflite.NewInterpreter(m, tflite.Options{Threads: *th, XNNPackQS8: true, Kernels: *k})
		if err != nil {
			panic(err)
		}
		if err := ip.Invoke(); err != nil {
			panic(err)
		}
		ips = append(ips, ip)
		fmt.Fprintln(os.Stderr, ip.Delegation())
	}
	peak, _ := bench.PeakRSS()
	anon, file, _, _ := bench.RSSSplit()
	fmt.Printf("%s kernels=%s threads=%d peak %.1f MiB anon %.1f file %.1f\n", strings.TrimSuffix(*model, ".tflite"), *k, *th, float64(peak)/(1<<20), float64(anon)/(1<<20), float64(file)/(1<<20))
}
