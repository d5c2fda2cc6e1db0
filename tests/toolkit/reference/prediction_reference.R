# Predictions with standard errors for tests/toolkit/test_prediction.py.
#
# Usage (from the repository root, after export_data.py has written the small data sets):
#   Rscript tests/toolkit/reference/prediction_reference.R   # -> prediction_reference.csv
#
# For each model (REML) and a few rows (students of existing groups, and rows of a group the
# fit has not seen):
# - the predictions: lme4's predict(fit, newdata) with the group's modes (re.form = NULL,
#   allow.new.levels = TRUE, which gives a new group b = 0) and without (re.form = NA);
# - the standard error of the marginal mean, sqrt(x' vcov(fit) x);
# - the standard error of the conditional mean of an existing group, from Henderson's
#   mixed-model equations written out with lme4's X, Z and Lambda:
#   C = [X'X, X'Z Lambda; Lambda'Z'X, Lambda'Z'Z Lambda + I], Var = sigma^2 [x; Lambda'z]' C^-1 [x; Lambda'z];
# - the predictors of the rows (columns after sigma; NA for a model that does not use them).
# lme4 has no standard errors of predictions; this computes them from its fit, independently of
# lmmlib's per-group formula.
suppressPackageStartupMessages(library(lme4))

file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
here <- if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg))) else "."
source(file.path(here, "common.R"))

models <- list(
  c(reference_model("hsb_slope"),
    list(rows = data.frame(school = c(1224, 1224, 9586, 8367, 99999), cses = c(-1.0, 0.5, 0.0, 1.2, 0.3)))),
  c(reference_model("hsb_outcomes"),
    list(rows = data.frame(school = c(1224, 7688, 99999), meanses = c(-0.43, 0.2, 0.5), sector = c(0, 1, 1),
                           cses = c(0.3, -0.5, 1.0)))),
  c(reference_model("sleepstudy"),
    list(rows = data.frame(Subject = c(308, 335, 372, 1000), Days = c(4.5, 0, 9, 5))))
)

rows <- list()
for (m in models) {
  fit <- lmer(m$formula, data = m$data, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
  new <- m$rows
  new[[m$group]] <- factor(new[[m$group]])
  conditional <- predict(fit, newdata = new, allow.new.levels = TRUE)
  marginal <- predict(fit, newdata = new, re.form = NA)
  x <- model.matrix(delete.response(terms(fit)), new)
  se_marginal <- sqrt(rowSums((x %*% as.matrix(vcov(fit))) * x))
  # Henderson's equations in lme4's parametrization
  X <- getME(fit, "X"); Z <- getME(fit, "Z"); Lambda <- getME(fit, "Lambda")
  ZL <- Z %*% Lambda
  C <- rbind(cbind(crossprod(X), as.matrix(crossprod(X, ZL))),
             cbind(as.matrix(crossprod(ZL, X)), as.matrix(crossprod(ZL)) + diag(ncol(ZL))))
  C_inverse <- solve(C)
  levels <- levels(getME(fit, "flist")[[1]])
  q <- ncol(ZL) / length(levels)
  random_formula <- as.formula(paste("~", deparse(findbars(m$formula)[[1]][[2]])))
  z <- model.matrix(random_formula, new)
  se_conditional <- rep(NA_real_, nrow(new))
  for (k in seq_len(nrow(new))) {
    level <- match(as.character(new[[m$group]][k]), levels)
    if (is.na(level)) next
    vector <- numeric(ncol(C))
    vector[seq_len(ncol(X))] <- x[k, ]
    columns <- ncol(X) + (level - 1) * q + seq_len(q)
    vector[columns] <- as.vector(t(Lambda[(level - 1) * q + seq_len(q), (level - 1) * q + seq_len(q)]) %*% z[k, ])
    se_conditional[k] <- sigma(fit) * sqrt(sum(vector * (C_inverse %*% vector)))
  }
  rows[[length(rows) + 1]] <- data.frame(model = m$name, row = seq_len(nrow(new)),
                                         group = as.character(new[[m$group]]),
                                         known = as.character(new[[m$group]]) %in% levels,
                                         conditional = conditional, marginal = marginal,
                                         se_marginal = se_marginal, se_conditional = se_conditional,
                                         psi_between = NA, sigma = sigma(fit))
  # z' Psi z for every row (the variance of a new group's deviation)
  psi <- as.matrix(VarCorr(fit)[[1]])
  rows[[length(rows)]]$psi_between <- rowSums((z %*% psi) * z)
  # the predictors of the rows, after the results (NA for a model that does not use them)
  for (column in setdiff(names(m$rows), m$group)) rows[[length(rows)]][[column]] <- m$rows[[column]]
}
predictors <- unique(unlist(lapply(rows, function(r) names(r)[(which(names(r) == "sigma") + 1):ncol(r)])))
rows <- lapply(rows, function(r) { for (column in setdiff(predictors, names(r))) r[[column]] <- NA; r[c(names(r)[1:which(names(r) == "sigma")], predictors)] })
out <- do.call(rbind, rows)
write.csv(out, file.path(here, "prediction_reference.csv"), row.names = FALSE)
print(out, digits = 10)
