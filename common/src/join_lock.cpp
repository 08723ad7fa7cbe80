#include "lnpsaxs/join_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <utility>

namespace lnpsaxs::io {

JoinLock::JoinLock(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd_ < 0) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtime > 3600) {
      ::unlink(path_.c_str());
      fd_ = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    }
  }
}

JoinLock::~JoinLock() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

}  // namespace lnpsaxs::io
