// A thin C interface to cv::VideoCapture for what gocv v0.31 lacks: opening with parameters
// (timeouts), grab and retrieve apart (so frames that are not needed are not converted), and
// OpenCV's and GLib's logging. Every function catches C++ exceptions and reports them as text.
#ifndef EDGED_CAPTURE_H
#define EDGED_CAPTURE_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void* EdgedCapture;

// edged_capture_open opens target (a file path, URL or GStreamer pipeline) with the backend
// api, or the device index when target is NULL. params are OpenCV property/value pairs given
// at open; ffmpeg_options, when not NULL, are FFmpeg options "key;value|key;value" for this
// open only. On failure it returns NULL and writes a message to err (errlen bytes).
EdgedCapture edged_capture_open(const char* target, int index, int api, const int* params, int nparams,
                                const char* ffmpeg_options, char* err, int errlen);
// edged_capture_grab takes the next frame from the source; 1 on success.
int edged_capture_grab(EdgedCapture c, char* err, int errlen);
// edged_capture_retrieve decodes the grabbed frame into mat (a cv::Mat*); 1 on success.
int edged_capture_retrieve(EdgedCapture c, void* mat, char* err, int errlen);
double edged_capture_get(EdgedCapture c, int prop);
int edged_capture_set(EdgedCapture c, int prop, double value);
// edged_capture_backend names the backend that opened the capture ("" if unknown).
void edged_capture_backend(EdgedCapture c, char* out, int outlen);
void edged_capture_close(EdgedCapture c);

// edged_opencv_log_level sets OpenCV's own log level (cv::utils::logging::LogLevel: 0 silent
// .. 6 verbose).
void edged_opencv_log_level(int level);

// edged_glib_log makes GLib print its log messages (GStreamer's CRITICALs and WARNINGs, as
// GLib's default handler does) when print is 1, or drop all but fatal ones. It returns 0 when
// the process has no GLib (OpenCV without GStreamer), 1 otherwise.
int edged_glib_log(int print);

#ifdef __cplusplus
}
#endif

#endif
