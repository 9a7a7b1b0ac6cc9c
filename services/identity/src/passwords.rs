//! argon2id hashing on `max_concurrent` threads of its own taking jobs from one queue,
//! bounded twice: at most `max_concurrent` hashes run at once, and at most `max_queued` wait;
//! beyond that a request is refused at once (RESOURCE_EXHAUSTED) rather than queued without
//! bound, so a sign-in storm cannot grow memory. A refusal says when to come back
//! (google.rpc.RetryInfo): the time the hashes already admitted need, from the mean duration
//! of recent hashes, so clients that honour it spread their retries instead of spinning on
//! refusals that take the CPU the hashes need.
//!
//! The hashing threads run at a lower scheduling priority (nice 10, Linux): during a sign-in
//! storm they still take every CPU cycle nothing else wants, but the runtime's threads serving
//! other RPCs (CheckAccess, say) go first, so those keep their latency. On tokio's shared
//! blocking pool the hashes competed with them as equals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashingSettings {
    /// Memory cost in KiB (OWASP minimum for argon2id: 19 MiB).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes computed at once; defaults to the number of CPUs.
    pub max_concurrent: usize,
    /// Hash requests allowed to wait for a slot.
    pub max_queued: usize,
}

impl Default for HashingSettings {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            max_concurrent: std::thread::available_parallelism().map_or(2, usize::from),
            max_queued: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password checks in progress")]
    Busy { retry_after: Duration },
    #[error("password hashing failed: {0}")]
    Failed(String),
}

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    admitted: Arc<Semaphore>,
    places: usize,
    threads: usize,
    /// Mean duration of recent hashes (exponentially weighted, 1/8 per hash), in microseconds.
    mean_micros: Arc<AtomicU64>,
    pool: Arc<HashingThreads>,
}

/// Bounds of the retry delay a refusal names.
const MIN_RETRY: Duration = Duration::from_millis(10);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// A place among the hashes running or waiting, held until the hash is done.
#[derive(Debug)]
pub struct Admission {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

type Job = Box<dyn FnOnce() + Send>;

/// `max_concurrent` threads taking jobs from one queue; they end when the hasher is dropped.
struct HashingThreads {
    jobs: mpsc::Sender<Job>,
}

/// Scheduling niceness of the hashing threads (0 is normal, 19 the lowest).
const HASHING_NICENESS: i32 = 10;

impl HashingThreads {
    fn start(threads: usize) -> Result<Self, HashError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError::Failed(format!("starting a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.jobs
            .send(job)
            .map_err(|_| HashError::Failed("hasher closed".into()))
    }
}

/// Lowers the calling thread's priority (on Linux niceness is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS)
    {
        tracing::warn!(error = %err, "could not lower the priority of a hashing thread");
    }
}

impl PasswordHasher {
    pub fn new(settings: HashingSettings) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| HashError::Failed(e.to_string()))?;
        let threads = settings.max_concurrent.max(1);
        let places = threads + settings.max_queued;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            pool: Arc::new(HashingThreads::start(threads)?),
            admitted: Arc::new(Semaphore::new(places)),
            places,
            threads,
            mean_micros: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Takes a place among the hashes running or waiting, or refuses at once when all are
    /// taken. Sign-in asks first, before reading the account, so a refused request costs no
    /// database work during a storm.
    pub fn admit(&self) -> Result<Admission, HashError> {
        self.admitted
            .clone()
            .try_acquire_owned()
            .map(|permit| Admission { _permit: permit })
            .map_err(|_| HashError::Busy {
                retry_after: self.retry_after(),
            })
    }

    /// How long the hashes admitted now need: rounds of `threads` hashes at the mean duration.
    fn retry_after(&self) -> Duration {
        let admitted = self.places - self.admitted.available_permits();
        let rounds = admitted.div_ceil(self.threads) as u64;
        let mean = Duration::from_micros(self.mean_micros.load(Ordering::Relaxed));
        (mean * rounds as u32).clamp(MIN_RETRY, MAX_RETRY)
    }

    fn record(mean_micros: &AtomicU64, took: Duration) {
        let took = took.as_micros().min(u64::MAX as u128) as u64;
        // Racing updates may lose one sample; the mean is an estimate either way.
        let old = mean_micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            took
        } else {
            old - old / 8 + took / 8
        };
        mean_micros.store(new, Ordering::Relaxed);
    }

    async fn run<T: Send + 'static>(
        &self,
        admission: Option<Admission>,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let admitted = match admission {
            Some(admission) => admission,
            None => self.admit()?,
        };
        let argon2 = self.argon2.clone();
        let mean_micros = self.mean_micros.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        // The job goes straight to the threads' queue (admission bounds its length), so a
        // thread that finishes a hash takes the next at once instead of waiting for the
        // runtime to hand it one. The place is held by the job until its hash is done, even if
        // the caller went away meanwhile; such a job is skipped rather than computed.
        self.pool.submit(Box::new(move || {
            let _admitted = admitted;
            if done.is_closed() {
                return;
            }
            let started = Instant::now();
            let answer = work(&argon2);
            Self::record(&mean_micros, started.elapsed());
            let _ = done.send(answer);
        }))?;
        result
            .await
            .map_err(|_| HashError::Failed("hashing thread ended".into()))
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(None, move |argon2| {
            let salt = SaltString::generate(&mut OsRng);
            argon2
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches the stored PHC string. The parameters come from the stored
    /// hash, so older hashes keep verifying after a parameter change.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashError> {
        self.verify_admitted(None, password, stored).await
    }

    /// [`Self::verify`] in a place taken earlier with [`Self::admit`] (or a new one if `None`).
    pub async fn verify_admitted(
        &self,
        admission: Option<Admission>,
        password: String,
        stored: String,
    ) -> Result<bool, HashError> {
        self.run(admission, move |argon2| {
            let parsed =
                PasswordHash::new(&stored).map_err(|e| HashError::Failed(e.to_string()))?;
            Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let hasher = PasswordHasher::new(HashingSettings::default()).unwrap();
        let hash = hasher.hash("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            hasher
                .verify("correct horse battery".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!hasher.verify("wrong".into(), hash).await.unwrap());
    }

    #[tokio::test]
    async fn excess_requests_are_refused_not_queued() {
        let hasher = PasswordHasher::new(HashingSettings {
            max_concurrent: 1,
            max_queued: 1,
            ..HashingSettings::default()
        })
        .unwrap();
        let attempts: Vec<_> = (0..6)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash("some password".into()).await })
            })
            .collect();
        let mut busy = 0;
        for attempt in attempts {
            if let Err(HashError::Busy { retry_after }) = attempt.await.unwrap() {
                assert!(
                    (MIN_RETRY..=MAX_RETRY).contains(&retry_after),
                    "{retry_after:?}"
                );
                busy += 1;
            }
        }
        assert!(
            busy >= 1,
            "some of six simultaneous hashes beyond two slots must be refused"
        );
    }
}
