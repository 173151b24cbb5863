//! A real Debian `docker-registry` (CNCF distribution 2.8) on a free 127.0.0.1 port, plus skopeo helpers.
