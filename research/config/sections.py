"""Every section of a run's config with its defaults, and the vocabulary its
validators share.

Each section belongs to the component it configures, which validates it
(`research.train.resolve` calls them in one pass). The defaults live here, in
a module that imports neither JAX nor the components, so that listing the
experiments, reading a config or refusing a bad key stays fast. The
optimizer's own hyperparameters are not here: `optimizer.hparams` is filled
from the chosen factory's signature when the config is resolved.
"""

import ml_collections

from research.data.config import default_data_config

PARALLEL_MODES = ('jit', 'sharded', 'pmap', 'vmap')
MONITOR_MODES = ('max', 'min')
BATCHINGS = ('epoch', 'full', 'fixed')
MONITOR_SPLITS = ('train', 'dev')
MONITOR_METRICS = ('loss', 'accuracy')
WANDB_MODES = ('auto', 'online', 'offline', 'disabled')
# Keys that change where and how a run is reported or spread over devices, not
# what it computes (every parallel mode gives the same result up to float
# rounding): they are not part of a run's identity, so a run started on one
# device can resume on eight.
PRESENTATION_SECTIONS = ('tracking', 'parallel')
# A key whose value selects what a section means: changing it resets that
# section (an optimizer's hyperparameters belong to that optimizer alone).
SELECTORS = {'optimizer.name': 'optimizer.hparams'}


def model_config() -> ml_collections.ConfigDict:
  """research.models.MLP's section."""
  c = ml_collections.ConfigDict()
  c.hidden = (100,)
  c.activation = 'relu'
  c.leaky_slope = 0.01  # leaky_relu's slope below zero (the lecture: 0.1)
  c.init = 'lecun_normal'
  c.init_std = 0.0  # 0 -> the initializer's own default
  c.batchnorm = 'none'  # none | before | after the activation
  c.bn_momentum = 0.9
  c.bn_epsilon = 1e-5
  # What BN normalizes with in training: 'batch' (the batch mean / variance,
  # differentiated through), 'batch_no_grad' (the same, under stop_gradient)
  # or 'running' (its running averages): the BN paper's §2 warning.
  c.batchnorm_train_stats = 'batch'
  c.bias_before_bn = False  # keep the Dense bias before BN 'before' (§2's b)
  c.dropout = 0.0
  c.input_dropout = 0.0
  # inverted: kept units * 1/(1-p) in training; vanilla: unscaled in training,
  # every unit * (1-p) at test (research/layers.py)
  c.dropout_scaling = 'inverted'
  c.residual = False
  c.dropconnect = 0.0  # rate of dropped hidden weights (Wan et al.)
  c.stochastic_depth = 0.0  # drop rate of residual blocks (Huang et al.)
  c.maxout_pieces = 1  # > 1: maxout units of that many pieces
  # Mixed precision: 'bfloat16' computes the layers in bfloat16 while the
  # parameters, the optimizer and the loss stay float32.
  c.compute_dtype = 'float32'
  return c


def augment_config() -> ml_collections.ConfigDict:
  """research.augment's section: every stage off."""
  c = ml_collections.ConfigDict()
  c.mixup_alpha = 0.0  # Beta(alpha, alpha) mixing weight; 0 = off
  c.cutout_size = 0  # side of the zeroed square, pixels; 0 = off
  c.crop_padding = 0  # zero padding before a random crop, pixels; 0 = off
  c.flip = False  # horizontal flip with probability 1/2 (wrong for digits)
  c.brightness = 0.0  # b ~ U(-brightness, brightness); 0 = off
  c.contrast = 0.0  # c ~ U(1 - contrast, 1 + contrast), in [0, 1]; 0 = off
  c.pca_lighting = 0.0  # std of AlexNet's alpha; 0 = off
  # Geometric (research/augment/geometric.py), one bilinear warp per image:
  c.rotate_degrees = 0.0  # rotation ~ U(-r, r) degrees; 0 = off
  c.shear = 0.0  # horizontal shear factor ~ U(-s, s); 0 = off
  c.scale = 0.0  # zoom ~ U(1 - s, 1 + s), s in [0, 1); 0 = off
  c.translate = 0.0  # shift ~ U(-t, t) pixels per axis (sub-pixel); 0 = off
  c.elastic_alpha = 0.0  # Simard 2003 elastic field scale, pixels; 0 = off
  c.elastic_sigma = 4.0  # std of the field's Gaussian smoothing, pixels
  c.pixel_noise = 0.0  # std of additive Gaussian pixel noise; 0 = off
  # test-time views: none | flips | crops | flips_crops | scales (x0.9, 1, 1.1)
  c.tta = 'none'
  return c


def loss_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = 'cross_entropy'  # a research.losses name
  # Training targets become (1 - a) one_hot + a / C (mixup's soft targets are
  # smoothed the same way); evaluation keeps the plain loss. In [0, 1).
  c.label_smoothing = 0.0
  return c


def schedule_config() -> ml_collections.ConfigDict:
  """research.optim.schedules' section (`optimizer.schedule`)."""
  c = ml_collections.ConfigDict()
  c.name = 'constant'  # one of research.optim.schedules.SCHEDULES
  c.warmup_epochs = 0.0  # linear warmup before the schedule; fractions allowed
  c.warmup_init_fraction = 0.0  # warmup starts at this fraction of the lr
  c.step_epochs = ()  # step: epochs (from the run's start) at which lr *= gamma
  c.gamma = 0.1
  c.final_fraction = 0.0  # cosine, linear, sgdr, wsd: the lr at the end / the peak
  c.decay_fraction = 0.2  # wsd: the decay takes this last fraction of the run
  c.decay_shape = 'linear'  # wsd: the decay's shape, linear | 1-sqrt
  c.sgdr_period_epochs = 10.0  # sgdr: first period T0
  c.sgdr_period_mult = 2.0  # sgdr: each period is this times the previous
  return c


def optimizer_config() -> ml_collections.ConfigDict:
  """research.optim.build's section: the optimizer and the chain around it."""
  c = ml_collections.ConfigDict()
  c.name = 'adam'  # a research.optim registry name
  c.learning_rate = 1e-3
  # The optimizer's own hyperparameters, by the names of its factory's
  # arguments; those not given take the factory's defaults when the config
  # is resolved. Changing `name` empties it.
  c.hparams = ml_collections.ConfigDict()
  c.schedule = schedule_config()
  c.reference_batch_size = 0  # linear scaling rule: lr * batch / this; 0 = off
  # How the rate follows the batch when reference_batch_size > 0: 'linear'
  # (Goyal et al.: lr * batch / reference) or 'inverse' (lr * reference /
  # batch, the lecture slides' "batch x N -> lr / N").
  c.batch_scaling = 'linear'
  c.grad_clip_norm = 0.0  # clip by global norm; 0 = off
  c.weight_decay = 0.0  # decoupled, weights only (not biases, not BatchNorm)
  # Gradient accumulation (optax.MultiSteps): one update at the mean gradient
  # of this many consecutive batches; the schedule counts updates. 1 = off.
  c.accumulate_steps = 1
  # Polyak / EMA averaging of the parameters after each update (debiased as
  # optax.ema); research.optim.averaging.ema_params reads it. 0 = off.
  c.ema_decay = 0.0
  return c


def regularization_config() -> ml_collections.ConfigDict:
  """research.penalties' section: penalties on the weights, all off."""
  c = ml_collections.ConfigDict()
  c.l2 = 0.0  # coefficient of 1/2 ||W||^2
  c.l1 = 0.0  # coefficient of ||W||_1; with l2 set too, the elastic net
  c.weight_elimination = 0.0  # coefficient of the Weigend et al. penalty
  c.weight_elimination_scale = 1.0  # its w0
  c.max_norm = 0.0  # c of the max-norm constraint (optim.constraints); 0 = off
  return c


def train_config() -> ml_collections.ConfigDict:
  """The training loop's section (research.train)."""
  c = ml_collections.ConfigDict()
  c.batch_size = 128
  c.num_epochs = 10
  c.shuffle = True  # False: batches in order, as the MNIST-1D notebooks
  # 'epoch': minibatches covering the training split each epoch; 'full': every
  # step sees the whole training split; 'fixed': every step sees the same first
  # batch_size examples. In 'full' and 'fixed' an epoch is one step.
  c.batching = 'epoch'
  # How evaluation normalizes with BatchNorm: its running statistics, or the
  # statistics of each evaluated chunk of train.eval_batch_size examples.
  c.bn_eval = 'running'
  c.eval_every_epochs = 1
  c.eval_batch_size = 1000
  c.checkpoint_every_epochs = 1
  c.keep_checkpoints = 2  # >= 2, so a corrupt latest has a fallback
  # The metric that picks the best checkpoint and drives early stopping.
  c.monitor = 'dev/accuracy'
  c.monitor_mode = 'max'
  c.patience = 0  # epochs without improvement before stopping; 0 = off
  c.min_delta = 0.0
  # A step's training loss above this times the run's first step's loss (at
  # least 1) stops the run as diverged, like a NaN: a run that blew up to a
  # finite 1e35 is not "done". 0 = only NaN / Inf.
  c.divergence_factor = 1000.0
  # '' = start from the seed's initialization; else a run directory: start
  # from its latest params, batch_stats (and pruning masks), with a fresh
  # optimizer at step 0 (fine-tuning, e.g. after pruning).
  c.init_from = ''
  return c


def prune_config() -> ml_collections.ConfigDict:
  """research.pruning's section: magnitude pruning at the start of the run."""
  c = ml_collections.ConfigDict()
  c.sparsity = 0.0  # fraction of the kernels' weights set to zero; 0 = off
  c.scope = 'global'  # one threshold over every kernel, or the fraction per kernel
  return c


def distill_config() -> ml_collections.ConfigDict:
  """research.distillation's section: the student's training loss mixes the
  teacher's distribution softened at `temperature` (weight `alpha`, scaled by
  T^2) with the hard labels (weight 1 - alpha)."""
  c = ml_collections.ConfigDict()
  c.teacher = ''  # '' = off; a run directory, or several (commas): an ensemble
  c.temperature = 4.0
  c.alpha = 0.9
  return c


def parallel_config() -> ml_collections.ConfigDict:
  """research.parallel's section: how one step is compiled. 'jit' on one
  device, 'sharded' (jit with the batch split over devices by a
  NamedSharding), 'pmap' (a replica per device), 'vmap' (a population of runs
  as one program: set by `research sweep --launcher population`)."""
  c = ml_collections.ConfigDict()
  c.mode = 'jit'
  c.num_devices = 0  # sharded / pmap / vmap: the first N devices; 0 = all
  # vmap: devices that split each member's batch (a 'batch' mesh axis beside
  # 'members'); 1 = each member on one device.
  c.data_parallel = 1
  # Multi-host (jax.distributed): '' = from SLURM's environment when the job
  # has several tasks, else one process. Or host:port of process 0, with
  # num_processes and process_id set for each process.
  c.coordinator_address = ''
  c.num_processes = 0
  c.process_id = -1
  return c


def tracking_config() -> ml_collections.ConfigDict:
  """research.tracking's section: where a run is written and logged."""
  c = ml_collections.ConfigDict()
  c.output_dir = 'runs'
  c.wandb = 'auto'  # auto | online | offline | disabled
  c.project = 'research'
  c.entity = ''
  c.progress = True
  return c


def base_config() -> ml_collections.ConfigDict:
  """Every key a run understands, with its default."""
  c = ml_collections.ConfigDict()
  c.experiment = ''
  c.seed = 0
  c.data = default_data_config()
  c.model = model_config()
  c.augment = augment_config()
  c.loss = loss_config()
  c.optimizer = optimizer_config()
  c.regularization = regularization_config()
  c.train = train_config()
  c.prune = prune_config()
  c.distill = distill_config()
  c.parallel = parallel_config()
  c.tracking = tracking_config()
  return c
