package kernels

// The TFLite headers give the delegate's types; the library itself is linked for
// TfLiteIntArrayCreate/Free (runtime/tflite links it too, with the same rpath).

/*
#cgo CFLAGS: -O3 -std=gnu11 -Wall -I${SRCDIR}/../../third_party/tflite/include
#cgo linux,amd64 LDFLAGS: -L${SRCDIR}/../../third_party/tflite/lib/linux_amd64 -Wl,-rpath,${SRCDIR}/../../third_party/tflite/lib/linux_amd64 -ltensorflowlite_c
#cgo linux,arm64 LDFLAGS: -L${SRCDIR}/../../third_party/tflite/lib/linux_arm64 -Wl,-rpath,${SRCDIR}/../../third_party/tflite/lib/linux_arm64 -ltensorflowlite_c
#cgo LDFLAGS: -lpthread -lm
#include "kernels.h"
*/
import "C"
