# nlme's lme with within-group correlation structures, for tests/toolkit/test_correlation.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/correlation_reference.R   # -> correlation_reference.csv
#
# Models (each by REML and ML):
# - blackmore_car1: Fox's model of the Blackmore exercise data (carData), log2(exercise + 5/60)
#   on I(age - 8) * group, random intercept and slope of I(age - 8) by subject, continuous-time
#   AR(1) errors in age within subject (corCAR1(form = ~ age | subject));
# - orthodont_ar1: Orthodont (nlme), distance ~ age + Sex, random intercept by Subject, AR(1)
#   errors over the four occasions (corAR1(form = ~ 1 | Subject), rows in age order);
# - orthodont_car1: the same with corCAR1(form = ~ age | Subject) (ages 2 years apart);
# and with a residual variance for each stratum (weights = varIdent(form = ~ 1 | stratum)):
# - orthodont_varident: Orthodont, distance ~ age + Sex, random intercept by Subject, a variance by Sex;
# - orthodont_slope_varident: the same with a random intercept and slope of age;
# - orthodont_car1_varident: orthodont_car1 with a variance by Sex;
# - blackmore_ri_car1_varident: Fox's fixed part, a random intercept by subject, CAR(1) errors in age
#   and a variance by group;
# - blackmore_car1_varident: blackmore_car1 with a variance by group.
# nlme fixes the variance of the first stratum of the data (sorted by group) at 1: the row "reference"
# names it, the rows "delta" give the ratio of each other stratum's residual SD to it.
# nlme is run with its default control first; when that fails or stops, again with
# lmeControl(opt = "optim", maxIter = 500, msMaxIter = 500), and the row "control" says which
# was used.  Output, long form: model, method, kind, name, value.
suppressPackageStartupMessages(library(nlme))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- list(
  list(name = "blackmore_car1", data = blackmore, fixed = log_exercise ~ time * group, random = ~ time | subject,
       correlation = quote(corCAR1(form = ~ age | subject))),
  list(name = "orthodont_ar1", data = orthodont_by_age, fixed = distance ~ age + Sex, random = ~ 1 | Subject,
       correlation = quote(corAR1(form = ~ 1 | Subject))),
  list(name = "orthodont_car1", data = orthodont_by_age, fixed = distance ~ age + Sex, random = ~ 1 | Subject,
       correlation = quote(corCAR1(form = ~ age | Subject))),
  list(name = "orthodont_varident", data = orthodont_by_age, fixed = distance ~ age + Sex, random = ~ 1 | Subject,
       weights = quote(varIdent(form = ~ 1 | Sex))),
  list(name = "orthodont_slope_varident", data = orthodont_by_age, fixed = distance ~ age + Sex,
       random = ~ age | Subject, weights = quote(varIdent(form = ~ 1 | Sex))),
  list(name = "orthodont_car1_varident", data = orthodont_by_age, fixed = distance ~ age + Sex, random = ~ 1 | Subject,
       correlation = quote(corCAR1(form = ~ age | Subject)), weights = quote(varIdent(form = ~ 1 | Sex))),
  list(name = "blackmore_ri_car1_varident", data = blackmore, fixed = log_exercise ~ time * group,
       random = ~ 1 | subject, correlation = quote(corCAR1(form = ~ age | subject)),
       weights = quote(varIdent(form = ~ 1 | group))),
  list(name = "blackmore_car1_varident", data = blackmore, fixed = log_exercise ~ time * group,
       random = ~ time | subject, correlation = quote(corCAR1(form = ~ age | subject)),
       weights = quote(varIdent(form = ~ 1 | group)))
)

for (m in models) {
  for (method in c("REML", "ML")) {
    fit_with <- function(control) {
      tryCatch(lme(m$fixed, random = m$random, data = m$data, method = method,
                   correlation = eval(m$correlation), weights = eval(m$weights), control = control),
               error = function(e) e)
    }
    fit <- fit_with(lmeControl())
    control <- "default"
    if (inherits(fit, "error")) {
      add(m$name, method, "default_failure", "message", conditionMessage(fit))
      fit <- fit_with(lmeControl(opt = "optim", maxIter = 500, msMaxIter = 500))
      control <- "optim"
    }
    add(m$name, method, "control", "used", control)
    add(m$name, method, "fit", "loglik", logLik(fit)[1])
    add(m$name, method, "fit", "sigma", fit$sigma)
    beta <- fixef(fit)
    for (k in seq_along(beta)) add(m$name, method, "fixef", names(beta)[k], beta[k])
    se <- sqrt(diag(vcov(fit)))
    for (k in seq_along(se)) add(m$name, method, "fixef_se", names(se)[k], se[k])
    psi <- getVarCov(fit)
    for (i in seq_len(nrow(psi))) for (j in seq_len(i))
      add(m$name, method, "psi", paste(rownames(psi)[i], colnames(psi)[j], sep = "|"), psi[i, j])
    if (!is.null(m$correlation)) add(m$name, method, "phi", "phi", coef(fit$modelStruct$corStruct, unconstrained = FALSE))
    if (!is.null(m$weights)) add_deltas(m$name, method, fit$modelStruct$varStruct)
  }
}
write_long("correlation_reference.R")
