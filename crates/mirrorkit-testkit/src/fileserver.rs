//! A local HTTP file server with a fault mode (429 + Retry-After, 500, reset mid-body).
