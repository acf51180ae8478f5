// pprofgen writes real Go profiles for ember's pprof reader to read: a CPU profile of two
// functions with known shares (hotA about two thirds, hotB one third) and a heap profile
// of two allocation sites (allocA about three times allocB).
//
// usage: pprofgen CPU.pprof HEAP.pprof [SECONDS]
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

var sink uint64
var kept [][]byte

//go:noinline
func spin(until time.Time) {
	x := sink
	for time.Now().Before(until) {
		for i := 0; i < 10000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink = x
}

//go:noinline
func hotA(d time.Duration) { spin(time.Now().Add(d)) }

//go:noinline
func hotB(d time.Duration) { spin(time.Now().Add(d)) }

//go:noinline
func allocA() { kept = append(kept, make([]byte, 3<<20)) }

//go:noinline
func allocB() { kept = append(kept, make([]byte, 1<<20)) }

func main() {
	seconds := 1.5
	if len(os.Args) > 3 {
		seconds, _ = strconv.ParseFloat(os.Args[3], 64)
	}
	cpu, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		panic(err)
	}
	total := time.Duration(seconds * float64(time.Second))
	for i := 0; i < 30; i++ {
		hotA(total * 2 / 90)
		hotB(total / 90)
	}
	pprof.StopCPUProfile()
	cpu.Close()

	runtime.MemProfileRate = 1
	for i := 0; i < 20; i++ {
		allocA()
		allocB()
	}
	runtime.GC()
	heap, err := os.Create(os.Args[2])
	if err != nil {
		panic(err)
	}
	if err := pprof.WriteHeapProfile(heap); err != nil {
		panic(err)
	}
	heap.Close()
}
