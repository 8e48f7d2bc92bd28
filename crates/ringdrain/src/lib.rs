//! ringdrain (in progress).
