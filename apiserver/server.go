// Package apiserver is the HTTP API of the control plane: Kubernetes-style
// REST and watch over the store, bearer-token authentication, per-tenant
// authorization, strict decoding, defaulting and validation. It is the only
// component that writes to the store.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// Config holds the dependencies and limits of a Server.
type Config struct {
	Store  *store.Store
	Scheme *api.Scheme
	Log    *slog.Logger
	// Registry receives the server's metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Version is reported on /version.
	Version string
	// MaxBodyBytes bounds request bodies (default 3 MiB, as Kubernetes).
	MaxBodyBytes int64
	// MaxInFlight bounds concurrent non-watch requests; beyond it the
	// server answers 429 (default 400).
	MaxInFlight int
	// AuthCacheTTL is how long a token check is remembered (default 10s).
	AuthCacheTTL time.Duration
	// WatchTimeout ends watches that asked for no timeout (default 30m).
	WatchTimeout time.Duration
	// WatchCacheSize is how many recent events per kind are kept to serve
	// watches from memory (default 4096). A watch from an older revision
	// goes to etcd, which answers 410 once the revision is compacted.
	WatchCacheSize int
	// ImageDir is where loaded image blobs are kept (DATA-DIR/images in
	// cloudd); empty disables image loading and the /v2/ registry.
	ImageDir string
	// MaxImageBytes bounds one image tarball upload (default 4 GiB).
	MaxImageBytes int64
}

// Server serves the API.
type Server struct {
	store    *store.Store
	scheme   *api.Scheme
	log      *slog.Logger
	auth     *authenticator
	metrics  *metrics
	registry *prometheus.Registry
	version  string
	maxBody  int64
	inflight chan struct{}
	watchTTL time.Duration
	images   *imageStore // nil: no image store

	// stopping closes when shutdown begins, so watches end cleanly.
	stopping chan struct{}
	stopOnce sync.Once

	// cachers feed watches, one per kind, started on first use and
	// stopped by bgCancel when serving ends.
	cachersMu sync.Mutex
	cachers   map[*api.KindInfo]*cacher
	cacheSize int
	bgCtx     context.Context
	bgCancel  context.CancelFunc

	// tunnels are the nodes' reverse tunnels, for log and exec.
	tunnels *tunnels

	// priorities caches the priority classes for pod admission.
	priorities *priorityClasses
}

// New builds a server; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Scheme == nil {
		return nil, errors.New("apiserver: store and scheme are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 3 << 20
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 400
	}
	if cfg.AuthCacheTTL == 0 {
		cfg.AuthCacheTTL = 10 * time.Second
	}
	if cfg.WatchCacheSize <= 0 {
		cfg.WatchCacheSize = 4096
	}
	if cfg.WatchTimeout == 0 {
		cfg.WatchTimeout = 30 * time.Minute
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	var images *imageStore
	if cfg.ImageDir != "" {
		if cfg.MaxImageBytes <= 0 {
			cfg.MaxImageBytes = 4 << 30
		}
		images = &imageStore{dir: cfg.ImageDir, maxBytes: cfg.MaxImageBytes}
	}
	bgCtx, bgCancel := context.WithCancel(context.Background())
	return &Server{
		images:    images,
		cachers:   map[*api.KindInfo]*cacher{},
		cacheSize: cfg.WatchCacheSize,
		bgCtx:     bgCtx,
		bgCancel:  bgCancel,
		store:     cfg.Store,
		scheme:    cfg.Scheme,
		log:       cfg.Log,
		auth:      &authenticator{store: cfg.Store, ttl: cfg.AuthCacheTTL, cache: map[string]authEntry{}, bad: map[string]time.Time{}},
		metrics:   m,
		registry:  cfg.Registry,
		version:   cfg.Version,
		maxBody:   cfg.MaxBodyBytes,
		inflight:  make(chan struct{}, cfg.MaxInFlight),
		watchTTL:  cfg.WatchTimeout,
		stopping:  make(chan struct{}),
		tunnels:   newTunnels(),

		priorities: newPriorityClasses(cfg.Store, cfg.Log),
	}, nil
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{
			"version": s.version, "goVersion": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
		})
	})
	metricsHandler := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	mux.Handle("GET /metrics", s.adminOnly(metricsHandler))
	// Go's profiler, as kube-apiserver's --profiling offers it: admins only.
	mux.Handle("GET /debug/pprof/", s.adminOnly(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/profile", s.adminOnly(http.HandlerFunc(pprof.Profile)))
	for _, p := range []string{"GET /api", "GET /api/{$}", "GET /api/v1", "GET /apis", "GET /apis/{$}", "GET /apis/{group}/{version}"} {
		mux.Handle(p, s.authenticated(s.discovery))
	}
	s.nodeRoutes(mux)
	s.imageRoutes(mux)
	s.streamRoutes(mux)
	s.metricsRoutes(mux)
	mux.Handle("/api/", s.authenticated(s.serveAPI))
	mux.Handle("/apis/", s.authenticated(s.serveAPI))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, s.log, newStatus(http.StatusNotFound, api.StatusReasonNotFound, fmt.Sprintf("the server could not find the requested resource %s", r.URL.Path)), "", "")
	})
	return mux
}

// authenticated resolves the bearer token before calling h.
func (s *Server) authenticated(h func(http.ResponseWriter, *http.Request, *Identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The in-flight limit comes before authentication, so that a flood
		// of requests with bad tokens cannot make unbounded store reads.
		// Watches, log and exec streams and node tunnels are long-lived
		// and not counted, nor is /metrics, which must answer when the
		// server is saturated.
		if strings.HasPrefix(r.URL.Path, "/api") && !isLongRunning(r) {
			select {
			case s.inflight <- struct{}{}:
				s.metrics.inflight.Inc()
				defer func() { <-s.inflight; s.metrics.inflight.Dec() }()
			default:
				s.metrics.rejected.Inc()
				s.metrics.requests.WithLabelValues(r.Method, "", "429").Inc()
				writeError(w, s.log, newStatus(http.StatusTooManyRequests, api.StatusReasonTooManyRequests,
					"too many requests in flight, please try again later"), "", "")
				return
			}
		}
		id, err := s.auth.authenticate(r.Context(), r)
		if err != nil {
			st := toStatus(err, "", "")
			s.metrics.requests.WithLabelValues(r.Method, "", strconv.Itoa(int(st.Code))).Inc()
			writeError(w, s.log, err, "", "")
			return
		}
		h(w, r, id)
	})
}

// adminOnly serves h to admin tokens and answers 403 to anyone else.
func (s *Server) adminOnly(h http.Handler) http.Handler {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request, id *Identity) {
		if id.Role != RoleAdmin {
			writeError(w, s.log, errForbidden("User %q cannot get path %q", id.Name, r.URL.Path), "", "")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isWatch(r *http.Request) bool {
	w := r.URL.Query().Get("watch")
	b, _ := strconv.ParseBool(w)
	return b || w == "1"
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.store.CurrentRevision(ctx); err != nil {
		http.Error(w, "etcd: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	select {
	case <-s.stopping:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	_, _ = w.Write([]byte("ok"))
}

// Bootstrap creates what must exist from the first start: the default
// namespace, the namespace of the nodes' leases, and the system priority
// classes.
func (s *Server) Bootstrap(ctx context.Context) error {
	if err := s.bootstrapPriorityClasses(ctx); err != nil {
		return err
	}
	k, _ := s.scheme.ByKind("v1", "Namespace")
	for _, name := range systemNamespaces {
		ns := k.New().(*api.Namespace)
		ns.Name = name
		s.prepareCreate(k, ns)
		err := s.store.Create(ctx, storeKey(k, "", name), ns)
		if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// systemNamespaces exist from the first start and may not be deleted.
var systemNamespaces = []string{"default", api.NamespaceNodeLease}

// Serve answers on ln until ctx ends, then shuts down gracefully: new
// connections are refused, in-flight requests finish (up to drain), and
// watches end with a clean end of stream.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, drain time.Duration) error {
	// Watch caches start with the server, so that the first watchers of a
	// kind are already served from memory.
	for _, k := range s.scheme.Kinds() {
		s.cacherFor(k)
	}
	s.priorities.start(s.bgCtx)
	defer s.bgCancel()
	// Tunnels are hijacked connections, which Shutdown does not wait for.
	defer s.tunnels.closeAll()
	conns := newConnTracker()
	srv := &http.Server{
		Handler:           s.Handler(),
		ConnState:         conns.track,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		ln = tls.NewListener(ln, tlsConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	go conns.closeIdle(sctx, 50*time.Millisecond, 500*time.Millisecond)
	if err := srv.Shutdown(sctx); err != nil {
		// Cut what is left rather than leave handlers running after Serve
		// returns.
		_ = srv.Close()
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}
