package tflite

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static void edged_trim(void) { malloc_trim(0); }
#else
static void edged_trim(void) {}
#endif
*/
import "C"

// ReleaseFreedMemory gives the C heap's free pages back to the system. glibc keeps what
// interpreters free for later allocations, so a process that is done with large models (a
// conversion after its calibration runs) still holds their memory, and builds the next ones
// on top of it. Go's own heap is debug.FreeOSMemory's.
func ReleaseFreedMemory() { C.edged_trim() }
