//! RTMP ingest and live packaging: who may publish is decided by the room domain; this part
//! speaks RTMP and turns a publish session into HLS segments.
