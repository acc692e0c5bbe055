#include "capture.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/videoio.hpp>

namespace {

void copy_message(const std::string& msg, char* out, int outlen) {
    if (out == nullptr || outlen <= 0) return;
    std::strncpy(out, msg.c_str(), outlen - 1);
    out[outlen - 1] = '\0';
}

// OpenCV's FFmpeg backend reads its options from this variable when it opens a capture, and
// nowhere else: an open that sets it holds the lock alone, so that no other FFmpeg open sees
// its value; the others share the lock.
std::shared_mutex ffmpeg_env_mu;
const char* const ffmpeg_env = "OPENCV_FFMPEG_CAPTURE_OPTIONS";

// GLib's GLogFunc and g_log_set_default_handler, looked up in the running process: GLib is
// loaded when OpenCV's GStreamer backend is (OpenCV links GStreamer, GStreamer GLib), and so
// edged builds without GLib's headers. GStreamer's g_return_if_fail CRITICALs go to GLib's
// default handler: no domain has a handler of its own.
typedef void (*glib_log_func)(const char* domain, int level, const char* message, void* data);
typedef glib_log_func (*glib_set_default_handler)(glib_log_func handler, void* data);

// GLib's default handler, and the GLogLevelFlags bits of a message that ends the process.
glib_log_func glib_print = nullptr;
const int glib_fatal = (1 << 1) | (1 << 2);  // G_LOG_FLAG_FATAL | G_LOG_LEVEL_ERROR

// glib_log_quiet drops GLib's messages, except one that ends the process: GLib aborts after
// it whatever the handler did, and the reason must be said.
void glib_log_quiet(const char* domain, int level, const char* message, void* data) {
    if ((level & glib_fatal) != 0 && glib_print != nullptr) glib_print(domain, level, message, data);
}

}  // namespace

extern "C" {

EdgedCapture edged_capture_open(const char* target, int index, int api, const int* params, int nparams,
                                const char* ffmpeg_options, char* err, int errlen) {
    try {
        std::vector<int> p(params, params + nparams);
        std::unique_ptr<cv::VideoCapture> c(new cv::VideoCapture());
        bool ok;
        if (target == nullptr) {
            ok = c->open(index, api, p);
        } else if (ffmpeg_options != nullptr) {
            std::unique_lock<std::shared_mutex> lock(ffmpeg_env_mu);
            const char* before = std::getenv(ffmpeg_env);
            std::string saved = before ? before : "";
            setenv(ffmpeg_env, ffmpeg_options, 1);
            try {
                ok = c->open(target, api, p);
            } catch (...) {
                if (before) setenv(ffmpeg_env, saved.c_str(), 1); else unsetenv(ffmpeg_env);
                throw;
            }
            if (before) setenv(ffmpeg_env, saved.c_str(), 1); else unsetenv(ffmpeg_env);
        } else {
            std::shared_lock<std::shared_mutex> lock(ffmpeg_env_mu);
            ok = c->open(target, api, p);
        }
        if (!ok || !c->isOpened()) {
            copy_message("", err, errlen);
            return nullptr;
        }
        return c.release();
    } catch (const std::exception& e) {
        copy_message(e.what(), err, errlen);
    } catch (...) {
        copy_message("unknown C++ exception", err, errlen);
    }
    return nullptr;
}

int edged_capture_grab(EdgedCapture c, char* err, int errlen) {
    try {
        return static_cast<cv::VideoCapture*>(c)->grab() ? 1 : 0;
    } catch (const std::exception& e) {
        copy_message(e.what(), err, errlen);
    } catch (...) {
        copy_message("unknown C++ exception", err, errlen);
    }
    return 0;
}

int edged_capture_retrieve(EdgedCapture c, void* mat, char* err, int errlen) {
    try {
        cv::Mat* m = static_cast<cv::Mat*>(mat);
        return static_cast<cv::VideoCapture*>(c)->retrieve(*m) && !m->empty() ? 1 : 0;
    } catch (const std::exception& e) {
        copy_message(e.what(), err, errlen);
    } catch (...) {
        copy_message("unknown C++ exception", err, errlen);
    }
    return 0;
}

double edged_capture_get(EdgedCapture c, int prop) {
    try {
        return static_cast<cv::VideoCapture*>(c)->get(prop);
    } catch (...) {
        return 0;
    }
}

int edged_capture_set(EdgedCapture c, int prop, double value) {
    try {
        return static_cast<cv::VideoCapture*>(c)->set(prop, value) ? 1 : 0;
    } catch (...) {
        return 0;
    }
}

void edged_capture_backend(EdgedCapture c, char* out, int outlen) {
    try {
        copy_message(static_cast<cv::VideoCapture*>(c)->getBackendName(), out, outlen);
    } catch (...) {
        copy_message("", out, outlen);
    }
}

void edged_capture_close(EdgedCapture c) {
    try {
        delete static_cast<cv::VideoCapture*>(c);
    } catch (...) {
    }
}

void edged_opencv_log_level(int level) {
    cv::utils::logging::setLogLevel(static_cast<cv::utils::logging::LogLevel>(level));
}

int edged_glib_log(int print) {
    auto set = reinterpret_cast<glib_set_default_handler>(dlsym(RTLD_DEFAULT, "g_log_set_default_handler"));
    glib_print = reinterpret_cast<glib_log_func>(dlsym(RTLD_DEFAULT, "g_log_default_handler"));
    if (set == nullptr || glib_print == nullptr) return 0;
    set(print ? glib_print : glib_log_quiet, nullptr);
    return 1;
}

}  // extern "C"
