package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/pipeline"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
	"github.com/ttpmap/ttpmap/store"
)

// Scan job limits: jobs run one at a time (they use every core), a few
// may wait, and the records of the last keptJobs stay in the store for
// GET /api/scan/{id}.
const (
	maxWaitingJobs = 8
	keptJobs       = 1000
	jobStoreBatch  = 500
	maxJobErrors   = 20
)

// jobKind names scan job records in the store.
const jobKind = "scan_job"

// interrupted is the error of a job the server stopped before it ended.
const interrupted = "interrupted: the server stopped before this scan finished (the findings stored until then are kept); upload the file again"

// errBusy refuses a job when too many wait.
var errBusy = errors.New("too many scan jobs waiting")

// Job is a scan of one uploaded file. Its record is kept in the store at
// each change of status, so it outlives a restart; while the job waits or
// runs, the server also holds it in memory with its live counts.
type Job struct {
	ID         string         `json:"id"`
	File       string         `json:"file"`
	Size       int64          `json:"size"`
	Status     string         `json:"status"` // queued, running, done, failed
	Error      string         `json:"error,omitempty"`
	Records    int64          `json:"records"`
	Findings   int64          `json:"findings"`
	Errors     int64          `json:"record_errors"`
	ErrorList  []string       `json:"errors,omitempty"` // the first few, with file and offset
	Techniques map[string]int `json:"techniques"`
	EventIDs   []string       `json:"event_ids,omitempty"` // the first 1000 findings
	Created    time.Time      `json:"created"`
	Finished   *time.Time     `json:"finished,omitempty"`
}

func (j *Job) active() bool { return j.Status == "queued" || j.Status == "running" }

// clone copies j deeply, so the copy can be read while j changes.
func (j *Job) clone() Job {
	c := *j
	c.Techniques = maps.Clone(j.Techniques)
	c.EventIDs = slices.Clone(j.EventIDs)
	c.ErrorList = slices.Clone(j.ErrorList)
	return c
}

type jobs struct {
	s    *Server
	sem  chan struct{} // one running job
	mu   sync.Mutex
	live map[string]*Job // jobs not yet saved as ended
	wg   sync.WaitGroup
}

func newJobs(s *Server) *jobs {
	return &jobs{s: s, sem: make(chan struct{}, 1), live: map[string]*Job{}}
}

// snapshot returns the job: the live one while it waits or runs, else its
// stored record.
func (j *jobs) snapshot(ctx context.Context, id string) (Job, bool, error) {
	j.mu.Lock()
	if job, ok := j.live[id]; ok {
		c := job.clone()
		j.mu.Unlock()
		return c, true, nil
	}
	j.mu.Unlock()
	var job Job
	err := j.s.cfg.Store.GetRecord(ctx, jobKind, id, &job)
	if errors.Is(err, store.ErrNoRecord) {
		return Job{}, false, nil
	}
	return job, err == nil, err
}

func (j *jobs) update(job *Job, fn func(*Job)) {
	j.mu.Lock()
	fn(job)
	j.mu.Unlock()
}

// save stores the job's record; once an ended job is saved, the store
// answers for it.
func (j *jobs) save(job *Job) error {
	j.mu.Lock()
	c := job.clone()
	j.mu.Unlock()
	// Saved even while the server stops, so the record says why it ended.
	if err := j.s.cfg.Store.PutRecord(context.WithoutCancel(j.s.runCtx), jobKind, c.ID, c, keptJobs); err != nil {
		return fmt.Errorf("save scan job %s: %w", c.ID, err)
	}
	if !c.active() {
		j.mu.Lock()
		delete(j.live, c.ID)
		j.mu.Unlock()
	}
	return nil
}

// add registers and saves a queued job, or refuses it with errBusy when
// too many wait.
func (j *jobs) add(job *Job) error {
	j.mu.Lock()
	waiting := 0
	for _, l := range j.live {
		if l.active() {
			waiting++
		}
	}
	if waiting > maxWaitingJobs {
		j.mu.Unlock()
		return errBusy
	}
	j.live[job.ID] = job
	j.mu.Unlock()
	if err := j.save(job); err != nil {
		j.mu.Lock()
		delete(j.live, job.ID)
		j.mu.Unlock()
		return err
	}
	return nil
}

// recover marks the jobs a stopped server left queued or running as
// failed, and removes their uploads.
func (j *jobs) recover(ctx context.Context) error {
	raws, err := j.s.cfg.Store.Records(ctx, jobKind)
	if err != nil {
		return fmt.Errorf("recover scan jobs: %w", err)
	}
	now := time.Now().UTC()
	for _, raw := range raws {
		var job Job
		if err := json.Unmarshal(raw, &job); err != nil {
			return fmt.Errorf("recover scan jobs: %w", err)
		}
		if !job.active() {
			continue
		}
		job.Status, job.Error, job.Finished = "failed", interrupted, &now
		if err := j.s.cfg.Store.PutRecord(ctx, jobKind, job.ID, job, keptJobs); err != nil {
			return fmt.Errorf("recover scan job %s: %w", job.ID, err)
		}
		if validJobID(job.ID) {
			os.RemoveAll(filepath.Join(j.s.scanDir(), job.ID))
		}
	}
	return nil
}

// startScan accepts a file as the raw body (any content type but form
// data) or as the "file" part of a multipart form, spools it to disk and
// queues a job.
func (s *Server) startScan(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	name := filepath.Base(r.URL.Query().Get("name"))
	var body io.Reader = r.Body
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "multipart: "+err.Error())
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				bodyError(w, fmt.Errorf("multipart: no \"file\" part: %w", err))
				return
			}
			if p.FormName() == "file" {
				if fn := p.FileName(); fn != "" {
					name = filepath.Base(fn)
				}
				body = p
				break
			}
		}
	}
	if name = filepath.Base(name); name == "." || name == ".." || name == string(filepath.Separator) {
		name = "upload" // never a path out of the job's folder
	}
	id := newJobID()
	dir := filepath.Join(s.scanDir(), id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.log.Error("scan upload", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not store the upload")
		return
	}
	path := filepath.Join(dir, name)
	size, err := spool(path, body)
	if err != nil {
		os.RemoveAll(dir)
		bodyError(w, err)
		return
	}
	if size == 0 {
		os.RemoveAll(dir)
		writeError(w, http.StatusBadRequest, "bad_request", "empty upload")
		return
	}
	job := &Job{ID: id, File: name, Size: size, Status: "queued", Techniques: map[string]int{}, Created: time.Now().UTC()}
	if err := s.jobs.add(job); err != nil {
		os.RemoveAll(dir)
		if errors.Is(err, errBusy) {
			w.Header().Set("Retry-After", "30")
			writeError(w, http.StatusServiceUnavailable, "busy", err.Error())
			return
		}
		s.log.Error("scan upload", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not record the scan job")
		return
	}
	s.jobs.wg.Add(1)
	go func() {
		defer s.jobs.wg.Done()
		defer os.RemoveAll(dir)
		s.runJob(job, path)
	}()
	w.Header().Set("Location", "/api/scan/"+id)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "queued", "url": "/api/scan/" + id})
}

func (s *Server) scanDir() string {
	if s.cfg.ScanDir != "" {
		return s.cfg.ScanDir
	}
	return filepath.Join(os.TempDir(), "ttpmap-scans")
}

func spool(path string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func newJobID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// validJobID tells whether id is one newJobID could return, so that it is
// safe in a path.
func validJobID(id string) bool {
	b, err := hex.DecodeString(id)
	return err == nil && len(b) == 12 && hex.EncodeToString(b) == id
}

// runJob scans one file with a fresh engine over the current rules (its
// own correlation windows) and stores the findings in batches.
func (s *Server) runJob(job *Job, path string) {
	ctx := s.runCtx
	select {
	case s.jobs.sem <- struct{}{}:
		defer func() { <-s.jobs.sem }()
	case <-ctx.Done():
		s.finishJob(job, ctx.Err())
		return
	}
	s.jobs.update(job, func(j *Job) { j.Status = "running" })
	if err := s.jobs.save(job); err != nil {
		s.log.Error("scan job", "job", job.ID, "err", err)
	}
	engine, _, err := detect.New(*s.rules.Load(), s.cfg.EngineOptions)
	if err != nil {
		s.finishJob(job, err)
		return
	}
	var pending []*finding.Finding
	flush := func() error {
		if err := s.store(ctx, pending); err != nil {
			return fmt.Errorf("store findings: %w", err)
		}
		s.jobs.update(job, func(j *Job) {
			for _, f := range pending {
				if len(j.EventIDs) < 1000 {
					j.EventIDs = append(j.EventIDs, f.EventID)
				}
			}
		})
		pending = pending[:0]
		return nil
	}
	counters := &pipeline.Counters{}
	st, err := pipeline.Run(ctx, pipeline.Config{
		Walker:  &source.Walker{Formats: all.Formats()},
		Paths:   []string{path},
		Engine:  engine,
		Builder: &finding.Builder{KB: s.cfg.KB, SourceService: "ttpmap"},
		Out: func(f *finding.Finding) error {
			f.File = job.File
			pending = append(pending, f)
			if len(pending) == jobStoreBatch {
				return flush()
			}
			return nil
		},
		OnError: func(err error) {
			s.jobs.update(job, func(j *Job) {
				if len(j.ErrorList) < maxJobErrors {
					j.ErrorList = append(j.ErrorList, strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), ""))
				}
			})
		},
		Counters: counters,
	})
	if err == nil {
		err = flush()
	}
	s.jobs.update(job, func(j *Job) {
		j.Records, j.Findings, j.Errors = st.Records, st.Findings, st.RecordErrors+st.InputErrors
		for k, v := range st.Techniques {
			j.Techniques[k] = v
		}
		if st.Records == 0 && err == nil {
			err = errors.New("no events: not a log format ttpmap reads (EVTX, Event Viewer CSV, JSON/NDJSON, XML, Tracee, CAPE)")
		}
	})
	s.finishJob(job, err)
}

func (s *Server) finishJob(job *Job, err error) {
	now := time.Now().UTC()
	stopped := errors.Is(err, context.Canceled) && s.runCtx.Err() != nil
	s.jobs.update(job, func(j *Job) {
		j.Finished = &now
		j.Status = "done"
		switch {
		case stopped:
			j.Status, j.Error = "failed", interrupted
		case err != nil:
			j.Status, j.Error = "failed", err.Error()
		}
	})
	if err != nil && !stopped {
		s.log.Warn("scan job failed", "job", job.ID, "err", err)
	}
	if err := s.jobs.save(job); err != nil {
		// The job stays in memory, so this server still answers for it.
		s.log.Error("scan job", "job", job.ID, "err", err)
	}
}

func (s *Server) scanStatus(w http.ResponseWriter, r *http.Request) {
	job, ok, err := s.jobs.snapshot(r.Context(), r.PathValue("id"))
	if err != nil {
		s.log.Error("scan status", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not read the scan job")
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no scan job with this id")
		return
	}
	writeJSON(w, http.StatusOK, job)
}
